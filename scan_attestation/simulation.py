"""Simulated scans for demos and load: what a device would have read, signed and sent.

:func:`simulate_scan` draws one scan for a device from a seeded :class:`random.Random`:

* the modality, uniformly among the device's authorised ones;
* whether it alarms, with probability ``alarm_rate``;
* one or two ISO 6346 container numbers (random owner code and serial, category ``U``,
  check digit from :func:`~scan_attestation.containers.check_digit`), a seal per
  container and a bill of lading number;
* the raw scan file and the typed scan the device adapter reads from it.

Radiation portals (``rpm``, ``spectroscopic-rpm``) replay the NIST N42.42 samples
(:class:`N42Samples`): AnnexD (clear) or AnnexD_alarmed for a gross-counting portal, AnnexE
for a spectroscopic one (its ``RadAlarm`` and nuclide results removed for a clear scan).
Every date-time of the occupancy (``StartDateTime``, ``AnalysisStartDateTime``,
``RadAlarmDateTime``) is moved by one offset, so that the scan time the adapter picks is
``now`` and the measurements keep their spacing; AnnexE's ``ContainerID`` becomes the first
drawn container. X-ray scanners write a result record (``schemas/xray-result.schema.json``)
with the drawn containers, a random image digest and an algorithm (and, when it alarms, an
analyst) verdict. Either way the file is parsed again with
:func:`~scan_attestation.adapters.parse_scan`, so the scan is exactly what the adapter reads
and ``rawSha256`` is the digest of the bytes returned.

Pure: no I/O and no clock; the samples, the random generator and ``now`` are arguments.
The same seed, samples, ``now`` and arguments give the same scans. It does not sign or
submit scans (``trustlane device simulate`` does).

Example::

    >>> samples = N42Samples.from_bytes(  # doctest: +SKIP
    ...     rpm_clear=annex_d, rpm_alarm=annex_d_alarmed, spectroscopic=annex_e
    ... )
    >>> drawn = simulate_scan(  # doctest: +SKIP
    ...     modalities=("rpm",), rng=random.Random(7), now=now, samples=samples, alarm_rate=0.1
    ... )
    >>> drawn.scan_json["result"], drawn.containers  # doctest: +SKIP
    ('clear', ('QZKU4106358',))
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.strict_json import JSONObject
from scan_attestation.adapters import parse_scan
from scan_attestation.containers import ContainerNumber, check_digit, validate_container_number
from scan_attestation.scan import (
    MODALITIES,
    Modality,
    Scan,
    ScanError,
    ScanResult,
    format_timestamp,
    parse_timestamp,
)

__all__ = [
    "N42Samples",
    "SimulatedScan",
    "SimulationError",
    "random_container_number",
    "simulate_scan",
]

# Carrier (SCAC) prefixes of the simulated bills of lading.
_CARRIERS = ("MAEU", "MEDU", "CMDU", "HLCU", "ONEY", "COSU", "EGLV", "ZIMU")
_SEAL_PREFIXES = ("ML", "SL", "HS", "EU", "CN", "NL")
_ROI_LABELS = ("dense organic", "anomalous density", "undeclared metal", "shielded object")
_ALGORITHM = {"name": "SimScreen", "version": "2.3.1"}
# How often the algorithm flags a scan that the analyst then clears (a false positive).
_FALSE_POSITIVE_RATE = 0.1
_MAX_CONTAINERS = 2

# Date-times of an occupancy, with or without a namespace prefix; group 1 is the tag name.
_TIMES = re.compile(
    r"<((?:[A-Za-z_][\w.-]*:)?(?:Start|AnalysisStart|RadAlarm)DateTime)>([^<]*)</\1>"
)
_CONTAINER_ID = re.compile(
    r"(<CharacteristicName>\s*ContainerID\s*</CharacteristicName>\s*<CharacteristicValue>)"
    r"[^<]*(</CharacteristicValue>)"
)
_ALARM_PARTS = (
    re.compile(r"<RadAlarm\b[^>]*>.*?</RadAlarm>\s*", re.DOTALL),
    re.compile(r"<NuclideAnalysisResults\b[^>]*>.*?</NuclideAnalysisResults>\s*", re.DOTALL),
)


class SimulationError(ScanError):
    """The samples or the arguments cannot make the scan asked for (the message says why)."""

    code = "SIMULATION_ERROR"


@dataclass(frozen=True)
class _Template:
    """One N42 sample: its text, and the scan time and result the adapter reads from it."""

    text: str
    scan_time: datetime
    result: ScanResult

    @classmethod
    def read(cls, text: str, name: str, *, modality: Modality, result: ScanResult) -> _Template:
        scan = parse_scan(text.encode("utf-8"), "n42")
        if (scan.modality, scan.result) != (modality, result):
            raise SimulationError(
                f"sample {name} reads as a {scan.result} {scan.modality} scan, "
                f"not a {result} {modality} one"
            )
        return cls(text, parse_timestamp(scan.scan_time)[0], result)


@dataclass(frozen=True)
class N42Samples:
    """The N42.42 documents simulated radiation portals replay, each read once."""

    rpm_clear: _Template
    rpm_alarm: _Template
    spectroscopic_clear: _Template
    spectroscopic_alarm: _Template

    @classmethod
    def from_bytes(cls, *, rpm_clear: bytes, rpm_alarm: bytes, spectroscopic: bytes) -> N42Samples:
        """Read the samples: AnnexD, AnnexD_alarmed and AnnexE of N42.42.

        Args:
            rpm_clear: A clear gross-counting portal scan (no ``Spectrum``).
            rpm_alarm: An alarmed gross-counting portal scan.
            spectroscopic: An alarmed spectroscopic portal scan; without its ``RadAlarm``
                and ``NuclideAnalysisResults`` elements it must read as clear.

        Returns:
            The samples.

        Raises:
            ScanError: A sample is not UTF-8, cannot be parsed, or does not read as the
                scan it stands for.
        """
        texts = []
        for name, data in (
            ("rpm_clear", rpm_clear),
            ("rpm_alarm", rpm_alarm),
            ("spectroscopic", spectroscopic),
        ):
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise SimulationError(f"sample {name} is not UTF-8") from e
        clear_text = texts[2]
        for part in _ALARM_PARTS:
            clear_text = part.sub("", clear_text)
        return cls(
            rpm_clear=_Template.read(texts[0], "rpm_clear", modality="rpm", result="clear"),
            rpm_alarm=_Template.read(texts[1], "rpm_alarm", modality="rpm", result="alarm"),
            spectroscopic_clear=_Template.read(
                clear_text,
                "spectroscopic without alarms",
                modality="spectroscopic-rpm",
                result="clear",
            ),
            spectroscopic_alarm=_Template.read(
                texts[2], "spectroscopic", modality="spectroscopic-rpm", result="alarm"
            ),
        )

    def template(self, modality: Modality, *, alarm: bool) -> _Template:
        """The sample a portal of ``modality`` replays."""
        if modality == "rpm":
            return self.rpm_alarm if alarm else self.rpm_clear
        return self.spectroscopic_alarm if alarm else self.spectroscopic_clear


@dataclass(frozen=True)
class SimulatedScan:
    """One simulated scan: the raw file, the scan read from it, and the consignment.

    Attributes:
        raw: The scan file's bytes (N42 XML or an X-ray result record).
        scan_json: :meth:`Scan.to_json` of ``parse_scan(raw)``.
        containers: The consignment's containers (AnnexE names the first in the file).
        seals: One seal number per container.
        transport_document: The bill of lading number.
    """

    raw: bytes
    scan_json: JSONObject
    containers: tuple[ContainerNumber, ...]
    seals: tuple[str, ...]
    transport_document: str

    @property
    def result(self) -> str:
        """``clear`` or ``alarm``."""
        return str(self.scan_json["result"])

    @property
    def modality(self) -> str:
        """``xray``, ``rpm`` or ``spectroscopic-rpm``."""
        return str(self.scan_json["modality"])


def random_container_number(rng: random.Random) -> ContainerNumber:
    """A random ISO 6346 freight container number (category ``U``) with its check digit."""
    owner = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    first_ten = f"{owner}U{rng.randrange(1_000_000):06d}"
    return validate_container_number(f"{first_ten}{check_digit(first_ten)}")


def _consignment(rng: random.Random) -> tuple[tuple[ContainerNumber, ...], tuple[str, ...], str]:
    containers: list[ContainerNumber] = []
    for _ in range(rng.randint(1, _MAX_CONTAINERS)):
        number = random_container_number(rng)
        if number not in containers:
            containers.append(number)
    seals = tuple(
        f"{rng.choice(_SEAL_PREFIXES)}{rng.randrange(10_000_000):07d}" for _ in containers
    )
    document = f"{rng.choice(_CARRIERS)}{rng.randrange(10**9):09d}"
    return tuple(containers), seals, document


def _replay(template: _Template, now: datetime, container: ContainerNumber) -> bytes:
    """The sample with every occupancy time moved so the scan time is ``now``."""
    delta: timedelta = now - template.scan_time

    def moved(match: re.Match[str]) -> str:
        tag, value = match.group(1), match.group(2)
        try:
            when, _ = parse_timestamp(value.strip())
        except ValueError:
            return match.group(0)
        return f"<{tag}>{format_timestamp(when + delta)}</{tag}>"

    text = _TIMES.sub(moved, template.text)
    text = _CONTAINER_ID.sub(lambda m: f"{m.group(1)}{container}{m.group(2)}", text)
    return text.encode("utf-8")


def _xray_record(
    rng: random.Random,
    now: datetime,
    containers: tuple[ContainerNumber, ...],
    *,
    alarm: bool,
    scanner_id: str,
) -> bytes:
    flagged = alarm or rng.random() < _FALSE_POSITIVE_RATE
    record: JSONObject = {
        "scannerId": scanner_id,
        "scanTime": format_timestamp(now),
        "containerIds": list(containers),
        "imageDigest": "sha256:" + rng.randbytes(32).hex(),
        "algorithm": {**_ALGORITHM, "verdict": "suspect" if flagged else "clear"},
    }
    if flagged:
        # An analyst looks at every flagged image: confirms the alarm or clears it.
        record["operatorVerdict"] = {
            "verdict": "suspect" if alarm else "clear",
            "operatorId": f"analyst-{rng.randrange(1, 1000):03d}",
        }
        record["regionsOfInterest"] = [
            {
                "x": rng.randrange(0, 4000),
                "y": rng.randrange(0, 1000),
                "width": rng.randrange(20, 600),
                "height": rng.randrange(20, 400),
                "label": rng.choice(_ROI_LABELS),
                "score": round(rng.uniform(0.5, 0.99), 2),
            }
            for _ in range(rng.randint(1, 3))
        ]
    return json.dumps(record, separators=(",", ":")).encode("utf-8")


def _modalities(modalities: Sequence[str]) -> tuple[Modality, ...]:
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise SimulationError(
            f"modalities must be a non-empty list of {', '.join(MODALITIES)} (got {unknown})"
        )
    return tuple(m for m in MODALITIES if m in modalities)


def simulate_scan(
    *,
    modalities: Sequence[str],
    rng: random.Random,
    now: datetime,
    samples: N42Samples,
    alarm_rate: float,
    scanner_id: str = "NII-SIM-01",
) -> SimulatedScan:
    """Draw one scan a device of these modalities could have made at ``now``.

    Args:
        modalities: The device's authorised modalities; the scan's is drawn among them.
        rng: The random generator (seed it for repeatable runs).
        now: The scan time (aware); the scan's ``scanTime`` is exactly this instant.
        samples: The N42 samples radiation portals replay.
        alarm_rate: The probability, 0 to 1, that the scan alarms.
        scanner_id: The ``scannerId`` of X-ray result records.

    Returns:
        The raw file, the scan the adapter reads from it and the consignment.

    Raises:
        SimulationError: No known modality, an alarm rate outside 0 to 1, or a file whose
            scan is not the one drawn (a sample that does not replay cleanly).
        ScanError: The X-ray record cannot be read (e.g. an unusable ``scanner_id``).
        ValueError: ``now`` is naive.
    """
    if not 0.0 <= alarm_rate <= 1.0:
        raise SimulationError(f"the alarm rate must be between 0 and 1, not {alarm_rate}")
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    modality = rng.choice(_modalities(modalities))
    alarm = rng.random() < alarm_rate
    containers, seals, document = _consignment(rng)
    if modality == "xray":
        raw = _xray_record(rng, now, containers, alarm=alarm, scanner_id=scanner_id)
    else:
        raw = _replay(samples.template(modality, alarm=alarm), now, containers[0])
    scan: Scan = parse_scan(raw)
    expected = ("alarm" if alarm else "clear", modality, format_timestamp(now))
    if (scan.result, scan.modality, scan.scan_time) != expected:
        raise SimulationError(
            f"the simulated file reads as a {scan.result} {scan.modality} scan at "
            f"{scan.scan_time}, not as drawn ({', '.join(expected)})"
        )
    return SimulatedScan(
        raw=raw,
        scan_json=scan.to_json(),
        containers=containers,
        seals=seals,
        transport_document=document,
    )
