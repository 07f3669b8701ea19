"""What every generated training program is made of, besides its backend's model and trainer:

- `constants`: the docstring and the one SETTINGS constant the rest is configured by;
- `data`, `reporting`, `loop`: framework-free functions copied into each program by source (loading and
  splitting the data, the progress line and curves, the training loop skeleton with its backend hooks);
- `initial_weights`: the seeded initial weights, with only the initializers the model uses;
- `support`: assembles those copied parts under one heading at the end of a program;
- `formatting`: ruff, so generated programs are formatted and lint-clean;
- `loader`: the one way a generated program is imported or run in this process.
"""
