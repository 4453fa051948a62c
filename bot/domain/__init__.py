"""The office's words and rules every layer shares, importing nothing above them: the request
kinds and their subject prefixes (classify), every word the office reads (vocab), business days
(calendar), the branch directory (branches), katakana readings (kana), spreadsheet-safe cells
(csvsafe), and the error a bad setting raises (config_error)."""
