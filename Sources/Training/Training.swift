// Module Training: see ../shared/design.md for what it owns.
