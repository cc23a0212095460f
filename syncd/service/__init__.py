"""The daemon as a service: its HTTP listener (health, readiness, metrics), the systemd
notify protocol, and the liveness and readiness rules both share."""
