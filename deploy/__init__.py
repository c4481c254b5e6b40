"""Packaging sluice for Amazon MWAA and deploying the package (`make package`, `make deploy`)."""
