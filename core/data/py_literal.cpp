#include "core/data/py_literal.h"

#include <cctype>
#include <cstdio>
#include <stdexcept>

namespace genrec::core {

namespace {

struct Parser
{
    const std::string &s;
    size_t i = 0;

    [[noreturn]] void fail(const std::string &what) const
    {
        throw std::invalid_argument("character " + std::to_string(i + 1) + ": " + what);
    }
    void skipSpace()
    {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            ++i;
    }
    void expect(char c)
    {
        skipSpace();
        if (i >= s.size() || s[i] != c)
            fail(std::string("expected '") + c + "'" + (i >= s.size() ? " before the end" : ""));
        ++i;
    }
    static void appendUtf8(std::string &out, uint32_t cp)
    {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    uint32_t hex(int digits)
    {
        uint32_t v = 0;
        for (int k = 0; k < digits; ++k) {
            if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i])))
                fail("bad \\x/\\u escape");
            const char c = s[i++];
            v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
        }
        return v;
    }
    std::string stringLiteral()
    {
        skipSpace();
        if (i >= s.size() || (s[i] != '\'' && s[i] != '"'))
            fail("expected a quoted string");
        const char q = s[i++];
        std::string out;
        for (;;) {
            if (i >= s.size())
                fail("string never closed");
            const char c = s[i++];
            if (c == q)
                return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i >= s.size())
                fail("string never closed");
            const char e = s[i++];
            switch (e) {
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '0': out += '\0'; break;
            case 'x': appendUtf8(out, hex(2)); break;
            case 'u': appendUtf8(out, hex(4)); break;
            case 'U': appendUtf8(out, hex(8)); break;
            default: out += '\\'; out += e; break; // Python keeps unknown escapes verbatim
            }
        }
    }
    int64_t intLiteral()
    {
        skipSpace();
        const size_t start = i;
        if (i < s.size() && s[i] == '-')
            ++i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
            ++i;
        if (i == start || (i == start + 1 && s[start] == '-'))
            fail("expected an integer");
        try {
            return std::stoll(s.substr(start, i - start));
        } catch (const std::out_of_range &) {
            fail("integer out of range");
        }
    }
    template <class T, class F>
    std::vector<T> list(F item)
    {
        std::vector<T> out;
        expect('[');
        skipSpace();
        if (i < s.size() && s[i] == ']') {
            ++i;
        } else {
            for (;;) {
                out.push_back(item());
                skipSpace();
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    skipSpace();
                    if (i < s.size() && s[i] == ']') { // trailing comma
                        ++i;
                        break;
                    }
                    continue;
                }
                expect(']');
                break;
            }
        }
        skipSpace();
        if (i != s.size())
            fail("unexpected text after the list");
        return out;
    }
};

} // namespace

std::vector<std::string> parsePyStringList(const std::string &text)
{
    Parser p{text};
    return p.list<std::string>([&p] { return p.stringLiteral(); });
}

std::vector<int64_t> parsePyIntList(const std::string &text)
{
    Parser p{text};
    return p.list<int64_t>([&p] { return p.intLiteral(); });
}

std::string pyRepr(const std::string &s)
{
    const bool hasSingle = s.find('\'') != std::string::npos;
    const bool hasDouble = s.find('"') != std::string::npos;
    const char q = (hasSingle && !hasDouble) ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == static_cast<unsigned char>(q))
            out += std::string("\\") + q;
        else if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c == '\r')
            out += "\\r";
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else
            out += static_cast<char>(c);
    }
    return out + q;
}

std::string pyReprList(const std::vector<std::string> &items)
{
    std::string out = "[";
    for (size_t k = 0; k < items.size(); ++k)
        out += (k ? ", " : "") + pyRepr(items[k]);
    return out + "]";
}

std::string pyReprList(const std::vector<int64_t> &items)
{
    std::string out = "[";
    for (size_t k = 0; k < items.size(); ++k)
        out += (k ? ", " : "") + std::to_string(items[k]);
    return out + "]";
}

} // namespace genrec::core
