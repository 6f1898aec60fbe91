"""A site on paper: answers, their validation, the plan of what runs where, and
the files written from it. Nothing here starts a process or opens a socket."""
