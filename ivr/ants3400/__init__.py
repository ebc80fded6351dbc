"""The 34 00 line's profile: what is specific to the secure-titles agency's hotline.

Title types and their words, the file-number format (8 digits and a mod-97 key), the statuses a
file can have and how the IVR reads them out, and the facts routing rules test. The generic parts
(engine, listening, routing) know none of this: the server hands them :data:`PROFILE`.
"""
