"""The four tourcrm services, each the same shape: `services/<name>/app.py` holds its SPEC and
`create_app(settings)`. The `tourcrm` package lists them and runs them."""
