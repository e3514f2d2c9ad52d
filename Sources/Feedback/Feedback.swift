// Module Feedback: see ../shared/design.md for what it owns.
