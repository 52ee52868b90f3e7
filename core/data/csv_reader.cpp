#include "core/data/csv_reader.h"

#include "core/common/error.h"

namespace genrec::core {

CsvReader::CsvReader(const std::string &path) : m_path(path), m_in(path, std::ios::binary), m_buf(1 << 16)
{
    if (!m_in)
        throwBadInput(path + ": cannot open file", "check the dataset folder and dataset name");
}

bool CsvReader::getChar(char &c)
{
    if (m_pos == m_len) {
        m_in.read(m_buf.data(), static_cast<std::streamsize>(m_buf.size()));
        m_len = static_cast<size_t>(m_in.gcount());
        m_pos = 0;
        if (m_len == 0)
            return false;
    }
    c = m_buf[m_pos++];
    return true;
}

bool CsvReader::next(std::vector<std::string> &fields)
{
    fields.clear();
    char c;
    if (!getChar(c))
        return false;
    m_recordLine = m_line;
    std::string field;
    bool inQuotes = false;
    bool wasQuoted = false;
    for (;;) {
        if (inQuotes) {
            if (c == '"') {
                char d;
                if (getChar(d)) {
                    if (d == '"') {
                        field += '"';
                    } else {
                        inQuotes = false;
                        c = d;
                        continue; // re-dispatch d outside quotes
                    }
                } else {
                    inQuotes = false;
                    break;
                }
            } else {
                if (c == '\n')
                    ++m_line;
                field += c;
            }
        } else if (c == ',') {
            fields.push_back(std::move(field));
            field.clear();
            wasQuoted = false;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r') {
                char d;
                if (getChar(d) && d != '\n')
                    --m_pos; // lone CR: keep the next char (buffer still holds it)
            }
            ++m_line;
            break;
        } else if (c == '"') {
            if (!field.empty() || wasQuoted)
                throwBadInput(m_path + ":" + std::to_string(m_line) + ": column " +
                                  std::to_string(fields.size() + 1) + ": stray quote inside an unquoted field",
                              "quote the whole field and double inner quotes");
            inQuotes = true;
            wasQuoted = true;
        } else {
            field += c;
        }
        if (!getChar(c)) {
            if (inQuotes)
                throwBadInput(m_path + ":" + std::to_string(m_recordLine) + ": column " +
                                  std::to_string(fields.size() + 1) + ": quoted field never closed",
                              "a \" opens a field that runs to the end of the file");
            break;
        }
    }
    fields.push_back(std::move(field));
    return true;
}

std::string csvQuote(const std::string &field)
{
    if (field.find_first_of(",\"\n\r") == std::string::npos)
        return field;
    std::string out = "\"";
    for (char c : field) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

} // namespace genrec::core
