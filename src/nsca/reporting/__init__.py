"""`nsca report`: every phase's run folders on one page. `phases` is the registry (one entry per
phase), `sections` reads a phase's folder, `findings` the success table and the §10 finding,
`page` builds and writes the HTML page and its Markdown twin."""
