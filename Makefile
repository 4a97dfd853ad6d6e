# Entry points; see README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/etl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/etl

# The main job on the embedded default (SQLite portal.db, config.yaml): import the November
# exports of three clients, then Lindenhof's December export with its moves.
demo: $(BIN)/etl
	rm -f portal.db portal.db-wal portal.db-shm
	$(BIN)/etl db upgrade
	$(BIN)/etl import sample_exports/sap-style/*.csv --source wasserturm
	$(BIN)/etl import sample_exports/generic/portal_import_2026-11-01.csv --source rosenhoehe
	$(BIN)/etl import sample_exports/wodis-style/mieterliste_2026-11-01.csv --source lindenhof
	@echo "# December: 4 of 14 contracts end, more than the guard's 10 % -> refused (exit 4):"
	$(BIN)/etl import sample_exports/wodis-style/mieterliste_2026-12-01.csv --source lindenhof; \
		test $$? -eq 4
	@echo "# The operator checked it (a month of moves) and overrides, with a reason:"
	$(BIN)/etl import sample_exports/wodis-style/mieterliste_2026-12-01.csv --source lindenhof \
		--force --reason "Umzugswelle Dezember geprüft"
	$(BIN)/etl events --client wg-lindenhof --limit 30
	$(BIN)/etl runs
	@echo "# A damaged export is rejected (exit 4) with a German error report; nothing written:"
	$(BIN)/etl import sample_exports/bad/wodis-style/excel_scientific_keys.csv \
		--source lindenhof --report reports/excel_scientific_keys.fehler.csv; test $$? -eq 4
	cat reports/excel_scientific_keys.fehler.csv

test: $(BIN)/etl
	$(BIN)/ruff check etl schemas tests bench
	$(BIN)/pytest

bench: $(BIN)/etl
	$(BIN)/python -m bench.bench_validate
	$(BIN)/python -m bench.bench_load

clean:
	rm -rf $(VENV) reports portal.db portal.db-wal portal.db-shm
