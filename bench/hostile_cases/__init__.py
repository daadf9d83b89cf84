"""The parts of ``bench/hostile.py``: the hostile files and archives it sends, its HTTP client and tally,
the platform's users and fingerprint, and the requests, by kind."""
