"""Runs a test file's test_* functions without pytest: `python test_x.py`."""


def run_tests(namespace):
    """Calls every test_* function of the namespace, prints PASS/FAIL lines and
    'N passed, N failed'; returns the exit code (1 if any failed)."""
    passed = failed = 0
    for name, f in sorted(namespace.items()):
        if not (name.startswith("test_") and callable(f)):
            continue
        try:
            f()
            passed += 1
            print(f"PASS {name}")
        except Exception as e:  # noqa: BLE001 - report every failure, then exit non-zero
            failed += 1
            print(f"FAIL {name}: {e!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
