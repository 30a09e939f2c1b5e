"""Channel config and routing: the config file read into records, the route table, the registry."""
