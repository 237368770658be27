"""nbgrader configuration of the dlkit course: sources in solutions/, student labs in labs/.

`dlkit release`, `dlkit grade` and nbgrader's own tools (formgrader, `nbgrader export`) read it.
The gradebook is SQLite at the repository root unless `--db URL` (any SQLAlchemy URL, e.g.
PostgreSQL for a large course) says otherwise.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
