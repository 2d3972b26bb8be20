"""The steps of the document importer; `feedback_ingest.importer` is the entry point and runs them in order.

* `api`: what callers pass in and get back, and the error every step raises;
* `reading`: a file (plain text, markdown, .docx) to text lines;
* `cleaning`: the survey tool's own navigation text dropped, the lines' characters cleaned;
* `structure`: question headings found and the lines split into a preamble and one section per question;
* `details`: what the document says besides its answers (the export's questions 1 and 2, the preamble);
* `numbering`: which respondent type's block the questions belong to and how their numbers map to the form's;
* `answers`: each section's question text separated from its answer;
* `response`: the `SurveyResponse` built from all of the above;
* `text`: comparison and excerpt helpers the steps share.
"""
