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

# The main job on the embedded default (SQLite portal.db, config.yaml, local drops in drops/):
# the ERPs of three clients drop their November exports, `etl run` picks them up; then
# Lindenhof's December export with its moves, a guard refusal and an operator's override.
demo: $(BIN)/etl
	rm -rf portal.db portal.db-wal portal.db-shm drops var
	$(BIN)/etl db upgrade
	mkdir -p drops/lindenhof/inbox drops/wasserturm/inbox drops/rosenhoehe/inbox
	@echo "# November: three ERPs drop their exports (SAP: six files + manifest; portal template: + marker)"
	cp sample_exports/wodis-style/mieterliste_2026-11-01.csv drops/lindenhof/inbox/
	cp sample_exports/sap-style/RE_* drops/wasserturm/inbox/
	cp sample_exports/generic/portal_import_2026-11-01.csv drops/rosenhoehe/inbox/
	touch drops/rosenhoehe/inbox/portal_import_2026-11-01.csv.done
	$(BIN)/etl run
	@echo "# December: 4 of 14 Lindenhof contracts end, more than the guard's 10 % -> refused (exit 4):"
	cp sample_exports/wodis-style/mieterliste_2026-12-01.csv drops/lindenhof/inbox/
	$(BIN)/etl run --source lindenhof; test $$? -eq 4
	cat drops/lindenhof/error/mieterliste_2026-12-01.fehler.txt
	@echo "# The operator checked it (a month of moves) and applies it, with a reason:"
	$(BIN)/etl retry mieterliste_2026-12-01.csv --source lindenhof \
		--force --reason "Umzugswelle Dezember geprüft"
	$(BIN)/etl events --client wg-lindenhof --limit 30
	$(BIN)/etl runs
	@echo "# A damaged export is rejected (exit 4): moved to error/ with a German report; nothing written:"
	cp sample_exports/bad/wodis-style/excel_scientific_keys.csv \
		drops/lindenhof/inbox/mieterliste_2026-12-02.csv
	$(BIN)/etl run --source lindenhof; test $$? -eq 4
	cat drops/lindenhof/error/mieterliste_2026-12-02.fehler.csv
	find drops -type f | sort
	@echo "# Status for monitoring: Lindenhof's last export was rejected -> FAILING (exit 7):"
	$(BIN)/etl status; test $$? -eq 7

test: $(BIN)/etl
	$(BIN)/ruff check etl schemas tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest

bench: $(BIN)/etl
	$(BIN)/python -m bench.bench_validate
	$(BIN)/python -m bench.bench_load
	$(BIN)/python -m bench.bench_sftp
	$(BIN)/python -m bench.bench_cli
	$(BIN)/python -m bench.bench_peers

clean:
	rm -rf $(VENV) reports drops var portal.db portal.db-wal portal.db-shm
