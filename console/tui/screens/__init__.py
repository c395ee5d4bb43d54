"""One module per screen; each talks to the engine only through the app's FleetSource."""
