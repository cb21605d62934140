"""MLflow -> tables -> figures per language -> Jinja2 -> HTML -> PDF."""
