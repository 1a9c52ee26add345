import simgap


def test_package_imports_with_version():
    assert simgap.__version__.count(".") == 2
