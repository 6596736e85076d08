# Sources of millrace_pipelines, relative to pipelines/.
set(MILLRACE_PIPELINES_SOURCES)
