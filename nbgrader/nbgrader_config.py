"""The Dockyard course as an nbgrader course (run nbgrader from this folder).

    nbgrader generate_assignment 03-first-image        # release/03-first-image/: solutions replaced by stubs
    nbgrader autograde 03-first-image                  # grades submitted/<student>/03-first-image/

The source notebooks are generated from the exercises by `scripts/make-nbgrader-source`. Each ends with a
grade cell that runs Dockyard's grader (a real build and run in a sandbox) and returns nbgrader partial
credit, so autograding needs the Docker engine and the course's base images.
"""

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "dockyard"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# What the release version shows in place of a solution region: a comment, so a `%%writefile` cell
# writes a file that is still valid (it just does nothing yet) instead of Python code.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE", "default": "# YOUR CODE HERE"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A grade cell builds images and runs containers: give it time (nbgrader's default is 30 s per cell).
c.ExecutePreprocessor.timeout = 900
c.Execute.timeout = 900

# Learners may submit the provided app files and `files/` next to the notebook; grade them all.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
