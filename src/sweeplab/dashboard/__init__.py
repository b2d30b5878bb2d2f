"""Live web view of sweeps over the results store (no Ray needed)."""
