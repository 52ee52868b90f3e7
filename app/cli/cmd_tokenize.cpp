// genrec tokenize: stdin lines → JSON id arrays (or back with --decode)
#include "app/cli/cli_common.h"

#include "core/common/error.h"
#include "training/tokenizer/bpe_tokenizer.h"
#include "training/tokenizer/sid_tokens.h"
#include "training/tokenizer/tokenize_stream.h"

#include <iostream>

namespace genrec::app {

void registerTokenizeCommands(CLI::App &app, CliContext &ctx)
{
    struct TokenizeArgs
    {
        std::string tokenizer;
        std::string sidIndex;
        bool decode = false;
        bool skipSpecial = false;
    };
    static TokenizeArgs args;
    auto *cmd = app.add_subcommand(
        "tokenize",
        "Encode stdin line by line to JSON arrays of token ids (no special tokens added), or "
        "decode JSON id arrays back to JSON strings with --decode");
    cmd->add_option("--tokenizer", args.tokenizer,
                    "Folder with tokenizer.json (+ tokenizer_config.json), or the file itself")
        ->required();
    cmd->add_flag("--decode", args.decode, "Input lines are JSON arrays of ids; print the text");
    cmd->add_flag("--skip-special", args.skipSpecial, "With --decode: drop special tokens");
    cmd->add_option("--sid-index", args.sidIndex,
                    "Add the SID tokens of this index.json first (MiniOneRec order)");
    cmd->callback([&ctx] {
        ctx.action = [] {
            train::BpeTokenizer tok = train::BpeTokenizer::load(args.tokenizer);
            if (!args.sidIndex.empty())
                tok.addTokens(train::loadSidTokens(args.sidIndex));
            train::TokenizeStreamOptions options;
            options.decode = args.decode;
            options.skipSpecial = args.skipSpecial;
            std::ios::sync_with_stdio(false);
            train::tokenizeStream(tok, std::cin, std::cout, options);
            return core::kExitOk;
        };
    });
}

} // namespace genrec::app
