"""The SMPP 3.4 channel: session (one bind), pump (window, pacing, throttling), inbox, channel.

`channel.SmppChannel` is the Channel; the other modules each hold one of its jobs. Nothing is
re-exported here: `channels.config.specs` imports the pure field modules, and the channel imports
`channels.config.specs`, so importing the channel from this package would be circular.
"""
