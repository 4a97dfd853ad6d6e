# Entry points; see README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/etl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/etl

demo: $(BIN)/etl
	$(BIN)/etl validate sample_exports/wodis-style/*.csv --mapping wodis-style
	$(BIN)/etl validate sample_exports/sap-style/*.csv --mapping sap-style
	$(BIN)/etl validate sample_exports/generic/*.csv --mapping generic
	@echo "# A damaged export is rejected (exit code 4) with a German error report:"
	$(BIN)/etl validate sample_exports/bad/wodis-style/excel_scientific_keys.csv \
		--mapping wodis-style --report reports/excel_scientific_keys.fehler.csv; test $$? -eq 4
	cat reports/excel_scientific_keys.fehler.csv

test: $(BIN)/etl
	$(BIN)/ruff check etl schemas tests bench
	$(BIN)/pytest

bench: $(BIN)/etl
	$(BIN)/python -m bench.bench_validate

clean:
	rm -rf $(VENV) reports
