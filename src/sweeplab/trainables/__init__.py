"""Per model: a frozen Config, a Task (the hooks the engine calls), ``load_data(cfg)``
and ``DATA_FIELDS`` (the config fields the data depends on)."""
