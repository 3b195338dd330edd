"""1.x-style tests: code written against Channels 1.x, run unchanged (the fidelity issue)."""
