# Sources of millrace_io, relative to io/.
set(MILLRACE_IO_SOURCES)
