// Dataset reader (CSV + Python literals + JSON), malformed-input table, synth determinism.
#include "core/common/error.h"
#include "core/data/csv_reader.h"
#include "core/data/dataset.h"
#include "core/data/dataset_stats.h"
#include "core/data/py_literal.h"
#include "core/data/synth.h"

#include <QCryptographicHash>
#include <QDirIterator>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

using namespace genrec::core;

namespace {
std::string readText(const std::string &p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}
void writeText(const std::string &p, const std::string &t)
{
    std::ofstream(p, std::ios::binary | std::ios::trunc) << t;
}
QByteArray treeHash(const QString &dir)
{
    QStringList files;
    QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext())
        files << it.next();
    files.sort();
    QCryptographicHash h(QCryptographicHash::Sha256);
    for (const QString &f : files) {
        QFile file(f);
        file.open(QIODevice::ReadOnly);
        h.addData(f.mid(dir.size()).toUtf8());
        h.addData(file.readAll());
    }
    return h.result().toHex();
}
const char *kHeader = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid\n";
} // namespace

class TestDataset : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void pyLiterals()
    {
        QCOMPARE(parsePyStringList("['a', \"b's\", 'c\\'d', 'e\\\\f', '']"),
                 (std::vector<std::string>{"a", "b's", "c'd", "e\\f", ""}));
        QCOMPARE(parsePyStringList("[ 'x,y' ,'z\"w' ]"), (std::vector<std::string>{"x,y", "z\"w"}));
        QCOMPARE(parsePyStringList("['\\u00e9\\x41']"), (std::vector<std::string>{"\xc3\xa9" "A"}));
        QCOMPARE(parsePyStringList("[]"), std::vector<std::string>{});
        QCOMPARE(parsePyIntList("[12, 7, -1]"), (std::vector<int64_t>{12, 7, -1}));
        QCOMPARE(parsePyIntList("[3,]"), (std::vector<int64_t>{3}));
        for (const char *bad : {"['a'", "'a'", "['a' 'b']", "['a'] x", "[1, 'a']", "['unterminated]"})
            QVERIFY_THROWS_EXCEPTION(std::invalid_argument, parsePyStringList(bad).size() + parsePyIntList(bad).size());
        // repr round trip, including both quote kinds
        const std::vector<std::string> titles = {"plain", "Writer's", "say \"hi\"", "both ' and \"", "back\\slash"};
        QCOMPARE(parsePyStringList(pyReprList(titles)), titles);
        QCOMPARE(pyRepr("Writer's"), std::string("\"Writer's\""));
        QCOMPARE(pyRepr("both ' and \""), std::string("'both \\' and \"'"));
    }

    void csvQuoting()
    {
        QTemporaryDir dir;
        const std::string p = dir.filePath(QStringLiteral("a.csv")).toStdString();
        writeText(p, "a,\"b,c\",\"d \"\"q\"\"\"\r\n\"multi\nline\",x,\n\nlast,1,2");
        CsvReader r(p);
        std::vector<std::string> f;
        QVERIFY(r.next(f));
        QCOMPARE(f, (std::vector<std::string>{"a", "b,c", "d \"q\""}));
        QCOMPARE(r.recordLine(), int64_t(1));
        QVERIFY(r.next(f));
        QCOMPARE(f, (std::vector<std::string>{"multi\nline", "x", ""}));
        QCOMPARE(r.recordLine(), int64_t(2));
        QVERIFY(r.next(f));
        QCOMPARE(f, std::vector<std::string>{""});
        QVERIFY(r.next(f));
        QCOMPARE(f, (std::vector<std::string>{"last", "1", "2"}));
        QCOMPARE(r.recordLine(), int64_t(5));
        QVERIFY(!r.next(f));
        QCOMPARE(csvQuote("a,b"), std::string("\"a,b\""));
        QCOMPARE(csvQuote("x\"y"), std::string("\"x\"\"y\""));
    }

    void synthIsDeterministicAndReadable()
    {
        QTemporaryDir dir;
        SynthOptions o;
        o.users = 120;
        o.items = 64;
        writeSynthDataset(dir.filePath(QStringLiteral("a")).toStdString(), o);
        writeSynthDataset(dir.filePath(QStringLiteral("b")).toStdString(), o);
        o.seed = 8;
        writeSynthDataset(dir.filePath(QStringLiteral("c")).toStdString(), o);
        QCOMPARE(treeHash(dir.filePath(QStringLiteral("a"))), treeHash(dir.filePath(QStringLiteral("b"))));
        QVERIFY(treeHash(dir.filePath(QStringLiteral("a"))) != treeHash(dir.filePath(QStringLiteral("c"))));

        const Dataset ds = loadDataset(dir.filePath(QStringLiteral("a")).toStdString(), "");
        QCOMPARE(ds.name, std::string("Demo_Office"));
        QCOMPARE(int(ds.items.size()), 64);
        const auto st = computeDatasetStats(ds);
        QCOMPARE(st.users, int64_t(120));
        QVERIFY(st.collidedSids > 0); // the generator plants collisions on purpose
        QCOMPARE(st.levels, 3);
        const int64_t total = st.rows.at("train") + st.rows.at("valid") + st.rows.at("test");
        QCOMPARE(st.rows.at("train"), int64_t(0.8 * double(total)));
        for (const auto &[len, n] : st.historyLengths)
            QVERIFY(len >= 1 && len <= 10);
        // Vocabulary in Python's sort order
        const auto vocab = ds.sidVocabulary();
        QVERIFY(std::is_sorted(vocab.begin(), vocab.end()));
        QCOMPARE(ds.categoryPhrase(), std::string("demo office"));
        const auto &i0 = ds.items[0], &i1 = ds.items[1];
        QCOMPARE(ds.titlesOf({i0.id, i1.id, -5}), i0.title + " | " + i1.title + " | -5");
        QVERIFY(ds.dataHash() != ds.sidHash());

        // flat layout reads the same samples
        o.seed = 7;
        o.flat = true;
        writeSynthDataset(dir.filePath(QStringLiteral("flat")).toStdString(), o);
        const Dataset flat = loadDataset(dir.filePath(QStringLiteral("flat")).toStdString(), "Demo_Office");
        QCOMPARE(flat.files.layout, std::string("flat"));
        QCOMPARE(flat.dataHash(), ds.dataHash());
    }

    void malformedInputs_data()
    {
        QTest::addColumn<QString>("file");      // which file to corrupt: train | index | items
        QTest::addColumn<QString>("content");   // replacement content (train: a data row after the header)
        QTest::addColumn<QString>("expected");  // substring of the error
        QTest::newRow("columns") << "train" << "A1,['x'],y,[0],1\n" << "train/Demo_Office_synth.csv:2: expected 7 columns";
        QTest::newRow("history list") << "train" << "A1,['x'],y,\"[0,,1]\",1,['<a>'],<a>\n" << ":2: column history_item_id: character";
        QTest::newRow("unknown item") << "train" << "A1,['x'],y,[99999],1,['<a>'],<a>\n" << ":2: column history_item_id: item 99999";
        QTest::newRow("bad target") << "train" << "A1,['x'],y,[0],abc,['<a>'],<a>\n" << ":2: column item_id: 'abc'";
        QTest::newRow("sid mismatch") << "train" << "A1,['x'],y,[0],1,['<a_0>'],<z_9>\n" << ":2: column item_sid: '<z_9>'";
        QTest::newRow("sid count") << "train" << "A1,['x'],y,[0],1,\"['<a_0>', '<a_1>']\",SID1\n" << ":2: column history_item_sid: 2 SIDs for 1";
        QTest::newRow("title list") << "train" << "A1,['x,y',z],y,[0],1,['<a_0>'],SID1\n" << ":2: expected 7 columns";
        QTest::newRow("open quote") << "train" << "A1,\"['x'],y,[0],1,['<a_0>'],SID1\n" << ":2: column 2: quoted field never closed";
        QTest::newRow("stray quote") << "train" << "A1,x\"y,y,[0],1,['<a_0>'],SID1\n" << ":2: column 2: stray quote";
        QTest::newRow("index json") << "index" << "{\"0\": [\"<a_1>\"" << "index.json: invalid JSON";
        QTest::newRow("index key") << "index" << "{\"zero\": [\"<a_1>\"]}" << "key 'zero' is not an item id";
        QTest::newRow("index token") << "index" << "{\"0\": [\"a_1\"]}" << "'a_1' is not a <token>";
        QTest::newRow("items json") << "items" << "[1,2]" << "item.json: expected an object";
    }
    void malformedInputs()
    {
        QFETCH(QString, file);
        QFETCH(QString, content);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        SynthOptions o;
        o.users = 40;
        o.items = 32;
        const std::string root = dir.path().toStdString();
        writeSynthDataset(root, o);
        const Dataset good = loadDataset(root, "");
        std::string text = content.toStdString();
        const std::string sid1 = good.item(1)->sid;
        for (size_t p; (p = text.find("SID1")) != std::string::npos;)
            text.replace(p, 4, sid1);
        if (file == QStringLiteral("train"))
            writeText(root + "/train/Demo_Office_synth.csv", std::string(kHeader) + text);
        else if (file == QStringLiteral("index"))
            writeText(root + "/index/Demo_Office.index.json", text);
        else
            writeText(root + "/index/Demo_Office.item.json", text);
        try {
            loadDataset(root, "Demo_Office");
            QFAIL("expected an error");
        } catch (const Error &e) {
            QCOMPARE(e.kind(), ErrorKind::BadInput);
            QCOMPARE(e.exitCode(), kExitBadInput);
            const std::string msg = e.what();
            QVERIFY2(msg.find(expected.toStdString()) != std::string::npos, msg.c_str());
            QVERIFY2(msg.find('\n') == std::string::npos, "errors are one line");
        }
    }

    void missingPieces()
    {
        QTemporaryDir dir;
        QVERIFY_THROWS_EXCEPTION(Error, locateDataset(dir.filePath(QStringLiteral("nope")).toStdString(), ""));
        QVERIFY_THROWS_EXCEPTION(Error, locateDataset(dir.path().toStdString(), ""));
        SynthOptions o;
        o.users = 20;
        o.items = 32;
        writeSynthDataset(dir.path().toStdString(), o);
        try {
            locateDataset(dir.path().toStdString(), "Office");
            QFAIL("unknown dataset must fail");
        } catch (const Error &e) {
            QVERIFY(std::string(e.hint()).find("Demo_Office") != std::string::npos);
        }
        QFile::remove(dir.filePath(QStringLiteral("test/Demo_Office_synth.csv")));
        QVERIFY_THROWS_EXCEPTION(Error, locateDataset(dir.path().toStdString(), "Demo_Office"));
        QVERIFY_THROWS_EXCEPTION(Error, writeSynthDataset(dir.path().toStdString(), SynthOptions{.users = 1}));
    }
};

QTEST_GUILESS_MAIN(TestDataset)
#include "tst_dataset.moc"
