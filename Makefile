# Both targets set up a fresh machine first (Node 24, npm dependencies, Temporal CLI); see scripts/setup.sh.
SHELL := /bin/bash

.PHONY: start test check setup

## Run the engine on its embedded defaults: Temporal dev server + Web UI, worker, ingest, example config.
start:
	@source scripts/setup.sh && npm start

## Run the whole test suite (lint, type-check, unit and integration tests on a real Temporal dev server).
test:
	@export CIO_SYNC_INSTALL_DEPS=1 && source scripts/setup.sh && npm run check && npm test

check:
	@source scripts/setup.sh && npm run check

setup:
	@source scripts/setup.sh
