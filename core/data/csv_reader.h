#pragma once
/// @file csv_reader.h
/// RFC 4180 CSV reader (quoted fields, doubled quotes, embedded newlines, CRLF) that tracks the
/// line each record starts on, for file:line error messages.

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace genrec::core {

class CsvReader
{
public:
    /// Opens the file; throws core::Error(BadInput) naming it when it cannot be read.
    explicit CsvReader(const std::string &path);

    /// Reads the next record into `fields`. Returns false at end of file. Throws core::Error
    /// (BadInput, "file:line: ...") on an unterminated quoted field or a stray quote.
    bool next(std::vector<std::string> &fields);

    /// 1-based line on which the last record returned by next() started.
    int64_t recordLine() const { return m_recordLine; }
    const std::string &path() const { return m_path; }

private:
    bool getChar(char &c);

    std::string m_path;
    std::ifstream m_in;
    std::vector<char> m_buf;
    size_t m_pos = 0;
    size_t m_len = 0;
    int64_t m_line = 1;
    int64_t m_recordLine = 0;
};

/// Quotes a field for CSV output when it holds a comma, quote or newline (doubling quotes).
std::string csvQuote(const std::string &field);

} // namespace genrec::core
