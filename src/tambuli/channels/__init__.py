"""The only code that talks to operators: the simulator, SMPP and HTTP gateways."""
