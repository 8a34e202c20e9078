"""Process health: the metrics (one function each), the weekly report and what the board shows."""
