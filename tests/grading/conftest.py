"""The fixture notebooks are graded, never executed by nbval: some are fork bombs on purpose."""

collect_ignore_glob = ["fixtures/*"]
