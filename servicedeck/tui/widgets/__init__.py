"""The console's widgets: the service table, the detail panel, the header line."""
