// Module Models: see ../shared/design.md for what it owns.
