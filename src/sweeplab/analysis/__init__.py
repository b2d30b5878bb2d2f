"""Analysis of stored sweeps: reads the results store's files, imports nothing of Ray."""
