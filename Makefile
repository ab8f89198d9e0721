# Two entry points, both self-installing on a fresh machine (see README):
#   make demo   - check the install (known-answer self-test), analyse the cross-face example forgery and write demo-out/report.pdf (+ triage form, overlay PNG, JSON)
#   make test   - run the test suite (and ruff)
# (make test-quick: ruff and the tests not marked slow, for quick iterations.)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-quick lint bench examples calibrate clean

# The editable install leaves forgetalk's own modules uncompiled; where PYTHONDONTWRITEBYTECODE
# is set (CI images, some containers) every command would then compile ~60 modules afresh, about
# 0.16 s of a 2 s analysis on 2 cores. compileall writes them once (stale files are ignored).
$(STAMP): requirements.txt requirements-dev.txt setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	$(PY) -m compileall -q forgetalk >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf demo-out  # the demo's own output folder, made afresh (analyze refuses to replace files it did not write)
	$(VENV)/bin/forgetalk analyze examples/grace_hopper_mouth_from_astronaut.jpg --report demo-out/report.pdf --summary demo-out/triage.pdf --self-test --no-progress

test: $(STAMP)
	$(VENV)/bin/ruff check forgetalk tests benchmarks
	CI=1 $(PY) -m pytest

# Every test but those marked slow (over ~5 s each, see setup.cfg); make test still runs them all.
test-quick: $(STAMP)
	$(VENV)/bin/ruff check forgetalk tests benchmarks
	CI=1 $(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check forgetalk tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/pipeline.py

# Regenerate the committed example forgery from the public-domain photo.
examples: $(STAMP)
	$(PY) examples/make_examples.py

# Rebuild every real-face calibration from the development faces, in dependency order:
# the evidence cues' statistics and threshold, the consistency cues, the evidence engine's
# region calibration (it scores faces with the new statistics), then the fused engine's
# calibration (the evidence score is one of its features; about 12 min on 2 cores).
# Each file comes out byte-identical when rebuilt from the same faces; CALIBRATE_WEIGHTS
# points the whole chain at a copy of weights/ to compare a rebuild with the shipped files.
FACES ?= ../shared/faces
PARSING ?= ../shared/parsing/celebamask_hq_1000
CALIBRATE_WEIGHTS ?= weights
calibrate: $(STAMP)
	FORGETALK_WEIGHTS=$(abspath $(CALIBRATE_WEIGHTS)) $(PY) -m forgetalk.train.evidence_calibration --faces $(FACES) --out $(CALIBRATE_WEIGHTS)/evidence
	FORGETALK_WEIGHTS=$(abspath $(CALIBRATE_WEIGHTS)) $(PY) -m forgetalk.train.consistency_calibration --faces $(FACES) --parsing $(PARSING) --out $(CALIBRATE_WEIGHTS)/evidence
	FORGETALK_WEIGHTS=$(abspath $(CALIBRATE_WEIGHTS)) $(PY) -m forgetalk.train.region_calibrate --engine evidence --faces $(FACES) --parsing $(PARSING) --out $(CALIBRATE_WEIGHTS)/evidence
	FORGETALK_WEIGHTS=$(abspath $(CALIBRATE_WEIGHTS)) $(PY) -m forgetalk.train.calibrate $(FACES) $(CALIBRATE_WEIGHTS)/localizer

clean:
	rm -rf demo-out .pytest_cache
