// Module LabelServer: see ../shared/design.md for what it owns.
