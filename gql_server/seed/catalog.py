"""The words of the seed data: course topics, comments, names and file kinds."""

from typing import NamedTuple

from models import Difficulty


class Topic(NamedTuple):
    title: str
    summary: str
    body: str
    difficulty: Difficulty
    tags: tuple[str, ...]


class FileKind(NamedTuple):
    suffix: str
    mime_type: str
    min_bytes: int
    max_bytes: int


BEGINNER, INTERMEDIATE, ADVANCED = Difficulty.BEGINNER, Difficulty.INTERMEDIATE, Difficulty.ADVANCED

# The demo gives every organization these tags; the scale data adds the rest.
DEMO_TAGS = (
    "Python",
    "Databases",
    "Algorithms",
    "Web",
    "Data Science",
    "Security",
    "Testing",
    "DevOps",
)
TAGS = (
    *DEMO_TAGS,
    "SQL",
    "GraphQL",
    "JavaScript",
    "TypeScript",
    "Rust",
    "Go",
    "Cloud",
    "Kubernetes",
    "Linux",
    "Networking",
    "Statistics",
    "Machine Learning",
    "Visualization",
    "Accessibility",
    "Design",
    "APIs",
    "Performance",
    "Concurrency",
    "Career",
    "Interview Prep",
    "Projects",
    "Fundamentals",
)

TOPICS = (
    Topic(
        "Introduction to Python",
        "Variables, functions and loops: your first steps in Python.",
        "Python reads almost like English, which makes it a friendly first language. We start "
        "with variables and types, write small functions, and use for and while loops to "
        "process lists. By the end you will write a script that reads a file and counts words.",
        BEGINNER,
        ("Python",),
    ),
    Topic(
        "SQL Fundamentals: SELECT, WHERE and JOIN",
        "Query a relational database with confidence.",
        "Every database course starts here. You will filter rows with WHERE, sort them with "
        "ORDER BY, and combine tables with inner and outer JOINs. Exercises use a small library "
        "database of books, members and loans.",
        BEGINNER,
        ("Databases",),
    ),
    Topic(
        "How the Web Works: HTTP in Practice",
        "Requests, responses, status codes and headers, seen from the browser.",
        "We follow one click from the browser to the server and back: DNS, TCP, the HTTP "
        "request line, headers, caching and cookies. You will inspect real traffic with the "
        "browser's developer tools.",
        BEGINNER,
        ("Web",),
    ),
    Topic(
        "Version Control with Git",
        "Commit, branch, merge and collaborate without fear.",
        "Git records the history of a project as a graph of commits. Learn to stage changes, "
        "write useful commit messages, branch for features, resolve merge conflicts and open "
        "a pull request.",
        BEGINNER,
        ("DevOps",),
    ),
    Topic(
        "Writing Your First Unit Tests",
        "Catch bugs early with small, fast, automated tests.",
        "A unit test checks one behaviour of one function. With pytest you will write "
        "assertions, use fixtures for setup, and run the suite on every change. Testing Python "
        "code early makes refactoring safe.",
        BEGINNER,
        ("Testing", "Python"),
    ),
    Topic(
        "Data Structures: Lists, Stacks and Queues",
        "The containers every program uses, and what they cost.",
        "Arrays, linked lists, stacks and queues each trade memory for speed differently. We "
        "implement them in Python, measure them, and pick the right one for the job.",
        BEGINNER,
        ("Algorithms", "Python"),
    ),
    Topic(
        "Graph Algorithms: Breadth-First and Depth-First Search",
        "Traverse a graph, find connected components and detect cycles.",
        "A graph is a set of nodes joined by edges: road maps, social networks and course "
        "prerequisites are all graphs. You will implement breadth-first and depth-first search, "
        "find connected components and detect a cycle with a topological sort.",
        INTERMEDIATE,
        ("Algorithms",),
    ),
    Topic(
        "Relational Database Design and Normalization",
        "From a messy spreadsheet to a clean schema.",
        "Good database design removes duplication and update anomalies. We model entities and "
        "relationships, choose primary and foreign keys, and normalize tables to third normal "
        "form, then discuss when to denormalize for speed.",
        INTERMEDIATE,
        ("Databases",),
    ),
    Topic(
        "Building a GraphQL API",
        "Schemas, resolvers and the N+1 problem.",
        "GraphQL lets a client ask for exactly the fields it needs. You will define a schema, "
        "write resolvers in Python, batch database access with data loaders, and paginate with "
        "cursors. The graph of types mirrors the graph of your data.",
        INTERMEDIATE,
        ("Web", "Python"),
    ),
    Topic(
        "Data Analysis with pandas",
        "Load, clean, group and plot real data sets.",
        "pandas brings tables to Python. We read CSV files into data frames, clean missing "
        "values, group and aggregate, join data from a database, and plot the results to tell "
        "a story with data.",
        INTERMEDIATE,
        ("Data Science", "Python"),
    ),
    Topic(
        "Web Application Security Basics",
        "Injection, XSS, CSRF and how to prevent them.",
        "Most breaches exploit a handful of well-known mistakes. You will see SQL injection "
        "against a database, cross-site scripting and request forgery in action, then fix each "
        "with parameterized queries, output encoding and tokens.",
        INTERMEDIATE,
        ("Security", "Web"),
    ),
    Topic(
        "Containers with Docker",
        "Package an application and its dependencies into one image.",
        "Containers make deployments repeatable. Write a Dockerfile, build layered images, run "
        "a web service with a database next to it using Compose, and keep images small.",
        INTERMEDIATE,
        ("DevOps",),
    ),
    Topic(
        "Shortest Paths and Graph Databases",
        "Dijkstra, A* and storing graphs for fast traversal.",
        "Weighted graphs model routes and costs. We implement Dijkstra's algorithm and A*, "
        "compare adjacency lists with a graph database, and express recursive graph queries in "
        "SQL with recursive common table expressions.",
        ADVANCED,
        ("Algorithms", "Databases"),
    ),
    Topic(
        "PostgreSQL Query Planning and Indexes",
        "Read EXPLAIN output and make slow queries fast.",
        "The PostgreSQL planner chooses between sequential scans, index scans and joins by cost. "
        "You will read EXPLAIN ANALYZE, create B-tree, GIN and partial indexes, and tune a slow "
        "database query step by step.",
        ADVANCED,
        ("Databases",),
    ),
    Topic(
        "Asynchronous Python with asyncio",
        "Event loops, coroutines and concurrency without threads.",
        "asyncio runs thousands of network tasks on one thread. Learn how the event loop "
        "schedules coroutines, how to await many requests at once, how to cancel work safely, "
        "and how an async Python database driver keeps a server responsive.",
        ADVANCED,
        ("Python",),
    ),
    Topic(
        "Machine Learning Model Evaluation",
        "Cross-validation, metrics and avoiding data leakage.",
        "A model is only as good as its evaluation. We split data correctly, use "
        "cross-validation, compare precision, recall and ROC curves, and find the data leakage "
        "that makes a model look better than it is.",
        ADVANCED,
        ("Data Science",),
    ),
    Topic(
        "Threat Modeling for Distributed Systems",
        "Find security risks before attackers do.",
        "Draw the data flow graph of a system, mark its trust boundaries, and walk through "
        "STRIDE to find spoofing, tampering and privilege escalation. Then rank the risks and "
        "plan mitigations for the services and the database.",
        ADVANCED,
        ("Security",),
    ),
    Topic(
        "Property-Based Testing",
        "Let the computer find the edge cases.",
        "Instead of writing examples, state properties that must always hold and let Hypothesis "
        "generate inputs in Python. Shrinking turns a failing case into a minimal one, and "
        "stateful testing explores sequences of operations.",
        ADVANCED,
        ("Testing", "Python"),
    ),
)

QUESTIONS = (
    "Could you explain the second example again? I got lost at the last step.",
    "Is there a recommended book to go deeper on this topic?",
    "How long should the exercises take? The last one took me two hours.",
    "Does this also apply to larger data sets, or only to small examples?",
    "The video and the slides disagree on one detail. Which one is right?",
    "What is the most common mistake people make here?",
    "Can we get the solution to exercise 3? I would like to compare approaches.",
    "How does this compare to what we learned in the previous module?",
)
ANSWERS = (
    "Good question! The short answer: yes, and the exercise in part two shows why.",
    "The slides are right; I will fix the video. Thanks for spotting it.",
    "Try working through it on paper first, then compare with the worked example.",
    "I have added a reading list to the attachments.",
    "Same here. Going through the previous module again helped me.",
    "It scales, but watch the memory use: we measure it in the next lesson.",
)
PRAISE = (
    "Great explanation, the diagrams really helped.",
    "Clear and to the point. Thank you!",
    "This finally made it click for me.",
    "Loved the hands-on exercises.",
)

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Frances",
    "Dennis", "Radia", "Ken", "Katherine", "Tim", "Hedy", "Guido", "Sophie", "John", "Anita",
    "Niklaus",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds",
    "Allen", "Ritchie", "Perlman", "Thompson", "Johnson", "Berners-Lee", "Lamarr", "van Rossum",
    "Wilson", "McCarthy", "Borg", "Wirth",
)  # fmt: skip

FILE_KINDS = (
    FileKind("slides.pdf", "application/pdf", 200_000, 5_000_000),
    FileKind("lecture.mp4", "video/mp4", 20_000_000, 400_000_000),
    FileKind("diagram.png", "image/png", 30_000, 900_000),
    FileKind("exercises.zip", "application/zip", 10_000, 2_000_000),
    FileKind("notebook.ipynb", "application/x-ipynb+json", 5_000, 500_000),
)
