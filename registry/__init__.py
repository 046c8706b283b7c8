"""Trust registry: status lists, peer keys and pinning, mutual recognition agreements.

Pure rules live here (``status_list``, ``peer_keys``, ``mra``, ``mra_recognition``); the
node layer stores, fetches and schedules.
"""
