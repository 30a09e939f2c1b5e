"""SMS channels: the simulator, the HTTP gateway with its presets, and SMPP (smpp/)."""
