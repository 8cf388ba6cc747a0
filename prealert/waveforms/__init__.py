"""Real waveforms for the simulator's monitor and the tests: a 12-lead ECG and a rhythm strip (data/PROVENANCE.md)."""
