"""The strategy office's summary of the consultation: every routed paragraph as a spreadsheet (xlsx), the draft of
the lausuntoyhteenveto as a document (docx) and a coverage chart, read from the workspace's store and filtered by
section subtree, respondent type, time and state.

`filters` reads what is asked for, `query` streams it from the store in the strategy's order, `spreadsheet`,
`document` and `chart` write it, `export` puts them together, `routes` serves them (pages and the admin API) and
`command` is `feedback report`.
"""
