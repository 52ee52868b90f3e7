<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>genrec::ui</name>
    <message>
        <source>Step</source>
        <translation>步数</translation>
    </message>
    <message>
        <source>Samples seen</source>
        <translation>已见样本数</translation>
    </message>
    <message>
        <source>Wall time (s)</source>
        <translation>耗时（秒）</translation>
    </message>
    <message>
        <source>Loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Learning rate</source>
        <translation>学习率</translation>
    </message>
    <message>
        <source>Gradient norm</source>
        <translation>梯度范数</translation>
    </message>
    <message>
        <source>Tokens per second</source>
        <translation>每秒词元数</translation>
    </message>
    <message>
        <source>HR@K / NDCG@K</source>
        <translation>HR@K / NDCG@K</translation>
    </message>
    <message>
        <source>Reward</source>
        <translation>奖励</translation>
    </message>
    <message>
        <source>KL</source>
        <translation>KL</translation>
    </message>
    <message>
        <source>Groups with zero reward std</source>
        <translation>奖励标准差为零的组比例</translation>
    </message>
    <message>
        <source>The runs were evaluated on different splits (%1 vs %2).</source>
        <translation>两个运行评测于不同的数据划分（%1 与 %2）。</translation>
    </message>
    <message>
        <source>The evaluations do not cover the same rows (%1 vs %2).</source>
        <translation>两次评测覆盖的样本不同（%1 与 %2）。</translation>
    </message>
    <message>
        <source>User ids repeat within an evaluation; rows cannot be paired.</source>
        <translation>评测中用户 ID 重复，无法配对。</translation>
    </message>
    <message>
        <source>The evaluations cover different users.</source>
        <translation>两次评测覆盖的用户不同。</translation>
    </message>
    <message>
        <source>%1 % CI [%2, %3]</source>
        <translation>%1% 置信区间 [%2, %3]</translation>
    </message>
    <message>
        <source>%1 beats %2 by %3 NDCG@%4, %5</source>
        <translation>%1 比 %2 的 NDCG@%4 高 %3，%5</translation>
    </message>
    <message>
        <source> (not significant: the interval contains 0)</source>
        <translation>（不显著：区间包含 0）</translation>
    </message>
    <message>
        <source>%1 h %2 min</source>
        <translation>%1 小时 %2 分</translation>
    </message>
    <message>
        <source>%1 min %2 s</source>
        <translation>%1 分 %2 秒</translation>
    </message>
    <message>
        <source>%1 s</source>
        <translation>%1 秒</translation>
    </message>
    <message>
        <source>Folder not found: %1</source>
        <translation>找不到文件夹：%1</translation>
    </message>
    <message>
        <source>No config.json in %1: not a Hugging Face model folder.</source>
        <translation>%1 中没有 config.json：不是 Hugging Face 模型文件夹。</translation>
    </message>
    <message>
        <source>config.json is not valid JSON.</source>
        <translation>config.json 不是有效的 JSON。</translation>
    </message>
    <message>
        <source>config.json lacks hidden_size, num_hidden_layers, num_attention_heads or vocab_size.</source>
        <translation>config.json 缺少 hidden_size、num_hidden_layers、num_attention_heads 或 vocab_size。</translation>
    </message>
    <message>
        <source>Model type %1 is not supported (Qwen2, Qwen2.5, Qwen3 and Llama are).</source>
        <translation>不支持模型类型 %1（支持 Qwen2、Qwen2.5、Qwen3 和 Llama）。</translation>
    </message>
    <message>
        <source>No tokenizer.json in the folder.</source>
        <translation>文件夹中没有 tokenizer.json。</translation>
    </message>
    <message>
        <source>%1 · %2 layers · hidden %3 · ~%4 parameters</source>
        <translation>%1 · %2 层 · 隐藏维度 %3 · 约 %4 参数</translation>
    </message>
    <message>
        <source> · no weights (train_from_scratch only)</source>
        <translation> · 无权重（仅可从头训练）</translation>
    </message>
    <message>
        <source>not in the list</source>
        <translation>不在列表中</translation>
    </message>
</context>
<context>
    <name>genrec::ui::ComparePanel</name>
    <message>
        <source>Metric:</source>
        <translation>指标：</translation>
    </message>
    <message>
        <source>X axis:</source>
        <translation>横轴：</translation>
    </message>
    <message>
        <source>Smoothing:</source>
        <translation>平滑：</translation>
    </message>
    <message>
        <source>Overlay</source>
        <translation>叠加曲线</translation>
    </message>
    <message>
        <source>Differences only</source>
        <translation>仅显示差异</translation>
    </message>
    <message>
        <source>Config diff</source>
        <translation>配置差异</translation>
    </message>
    <message>
        <source>Final metrics</source>
        <translation>最终指标</translation>
    </message>
    <message>
        <source>Key</source>
        <translation>键</translation>
    </message>
    <message>
        <source>Metric</source>
        <translation>指标</translation>
    </message>
    <message>
        <source>split</source>
        <translation>数据划分</translation>
    </message>
    <message>
        <source>%1 vs %2: no per-user ranks stored; evaluate both runs to compare them user by user.</source>
        <translation>%1 与 %2：未存储逐用户排名；请先评测两个运行以逐用户比较。</translation>
    </message>
    <message>
        <source> — %1 users, NDCG@10 %2 vs %3</source>
        <translation> — %1 位用户，NDCG@10 %2 对 %3</translation>
    </message>
</context>
<context>
    <name>genrec::ui::DashboardPanel</name>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Run:</source>
        <translation>运行：</translation>
    </message>
    <message>
        <source>Debiased exponential moving average, as in TensorBoard</source>
        <translation>去偏指数移动平均（与 TensorBoard 相同）</translation>
    </message>
    <message>
        <source>Export charts…</source>
        <translation>导出图表…</translation>
    </message>
    <message>
        <source>X axis:</source>
        <translation>横轴：</translation>
    </message>
    <message>
        <source>Smoothing:</source>
        <translation>平滑：</translation>
    </message>
    <message>
        <source>Drag to pan, wheel to zoom, double-click to fit</source>
        <translation>拖动平移，滚轮缩放，双击适应</translation>
    </message>
    <message>
        <source>Training</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Ranking</source>
        <translation>排序指标</translation>
    </message>
    <message>
        <source>RL</source>
        <translation>强化学习</translation>
    </message>
    <message>
        <source>Export charts to</source>
        <translation>导出图表到</translation>
    </message>
    <message>
        <source>Error: %1</source>
        <translation>错误：%1</translation>
    </message>
    <message>
        <source>ETA %1</source>
        <translation>剩余 %1</translation>
    </message>
    <message>
        <source> · loss %1</source>
        <translation> · 损失 %1</translation>
    </message>
    <message>
        <source>Rollouts</source>
        <translation>采样</translation>
    </message>
    <message>
        <source>Predictions</source>
        <translation>预测</translation>
    </message>
</context>
<context>
    <name>genrec::ui::MainWindow</name>
    <message>
        <source>GenRec Studio</source>
        <translation>GenRec 工作室</translation>
    </message>
    <message>
        <source>New run</source>
        <translation>新建运行</translation>
    </message>
    <message>
        <source>Dashboard</source>
        <translation>仪表盘</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>运行记录</translation>
    </message>
    <message>
        <source>Compare</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Form filled from %1</source>
        <translation>已从 %1 填充表单</translation>
    </message>
    <message>
        <source>Run #%1 ended: %2</source>
        <translation>运行 #%1 已结束：%2</translation>
    </message>
    <message>
        <source>Run store: %1</source>
        <translation>运行库：%1</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;New run</source>
        <translation>新建运行(&amp;N)</translation>
    </message>
    <message>
        <source>&amp;Import YAML…</source>
        <translation>导入 YAML(&amp;I)…</translation>
    </message>
    <message>
        <source>&amp;Export YAML…</source>
        <translation>导出 YAML(&amp;E)…</translation>
    </message>
    <message>
        <source>Open run &amp;store…</source>
        <translation>打开运行库(&amp;S)…</translation>
    </message>
    <message>
        <source>Load &amp;demo</source>
        <translation>加载演示(&amp;D)</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Run</source>
        <translation>运行(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;Stop</source>
        <translation>停止(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Refresh</source>
        <translation>刷新(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>视图(&amp;V)</translation>
    </message>
    <message>
        <source>&amp;Settings</source>
        <translation>设置(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>System</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>The language changes the next time GenRec Studio starts.</source>
        <translation>语言将在下次启动 GenRec 工作室时生效。</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;About GenRec Studio</source>
        <translation>关于 GenRec 工作室(&amp;A)</translation>
    </message>
    <message>
        <source>About GenRec Studio</source>
        <translation>关于 GenRec 工作室</translation>
    </message>
    <message>
        <source>&lt;b&gt;GenRec Studio %1&lt;/b&gt;&lt;p&gt;Train generative recommenders (semantic IDs, SFT, GRPO) and compare runs. Training runs in the separate &lt;code&gt;genrec&lt;/code&gt; engine; this window only reads the run store.&lt;/p&gt;</source>
        <translation>&lt;b&gt;GenRec 工作室 %1&lt;/b&gt;&lt;p&gt;训练生成式推荐模型（语义 ID、SFT、GRPO）并对比运行。训练在独立的 &lt;code&gt;genrec&lt;/code&gt; 引擎进程中进行；本窗口只读取运行库。&lt;/p&gt;</translation>
    </message>
    <message>
        <source>Open run store</source>
        <translation>打开运行库</translation>
    </message>
    <message>
        <source>Run stores (*.db);;All files (*)</source>
        <translation>运行库 (*.db);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Launch</source>
        <translation>启动</translation>
    </message>
    <message>
        <source>Engine started; the run appears when it has loaded its data.</source>
        <translation>引擎已启动；加载数据后运行将出现在此处。</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>The run keeps going; reopen the studio to follow it.</source>
        <translation>运行将继续；重新打开工作室即可继续跟踪。</translation>
    </message>
</context>
<context>
    <name>genrec::ui::PredictionPreview</name>
    <message>
        <source>No evaluation examples for this run yet (the eval stage stores a few users&apos; predictions when it finishes).</source>
        <translation>此运行还没有评估样例（评估阶段结束时会保存部分用户的预测）。</translation>
    </message>
    <message>
        <source>History (oldest first):</source>
        <translation>历史（从早到晚）：</translation>
    </message>
    <message>
        <source>user %1 (%2)</source>
        <translation>用户 %1（%2）</translation>
    </message>
    <message>
        <source>Target: %1  %2</source>
        <translation>目标：%1  %2</translation>
    </message>
    <message>
        <source>Rank of the target: %1 (stored %2 evaluation of %3 users)</source>
        <translation>目标排名：%1（已保存的 %2 评估，共 %3 个用户）</translation>
    </message>
    <message>
        <source>Rank of the target: %1 (no stored per-user rank for this user)</source>
        <translation>目标排名：%1（该用户没有已保存的逐用户排名）</translation>
    </message>
    <message>
        <source>#</source>
        <translation>#</translation>
    </message>
    <message>
        <source>Title</source>
        <translation>标题</translation>
    </message>
    <message>
        <source>SID</source>
        <translation>SID</translation>
    </message>
    <message>
        <source>Score</source>
        <translation>得分</translation>
    </message>
    <message>
        <source>The target item</source>
        <translation>目标物品</translation>
    </message>
</context>
<context>
    <name>genrec::ui::RolloutInspector</name>
    <message>
        <source>RL step:</source>
        <translation>RL 步数：</translation>
    </message>
    <message>
        <source>No rollouts logged for this run yet (the RL stage stores a sample of its groups every few steps).</source>
        <translation>此运行还没有记录采样（RL 阶段每隔几步保存一部分组）。</translation>
    </message>
    <message>
        <source>History (oldest first):</source>
        <translation>历史（从早到晚）：</translation>
    </message>
    <message>
        <source>user %1</source>
        <translation>用户 %1</translation>
    </message>
    <message>
        <source>Every completion got the same reward: no learning signal.</source>
        <translation>所有生成结果的奖励相同：没有学习信号。</translation>
    </message>
    <message>
        <source>Target: %1  %2</source>
        <translation>目标：%1  %2</translation>
    </message>
    <message>
        <source>All %1 completions got the same reward: advantages are zero, this group teaches nothing.</source>
        <translation>全部 %1 个生成结果的奖励相同：优势为零，这一组不提供任何学习信号。</translation>
    </message>
    <message>
        <source>Title</source>
        <translation>标题</translation>
    </message>
    <message>
        <source>SID</source>
        <translation>SID</translation>
    </message>
    <message>
        <source>Reward</source>
        <translation>奖励</translation>
    </message>
    <message>
        <source>Advantage</source>
        <translation>优势</translation>
    </message>
    <message>
        <source>The target item</source>
        <translation>目标物品</translation>
    </message>
</context>
<context>
    <name>genrec::ui::RunController</name>
    <message>
        <source>A run is already active; stop it or wait for it to finish.</source>
        <translation>已有运行在进行；请先停止或等待其结束。</translation>
    </message>
    <message>
        <source>Cannot write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>The genrec engine was not found; install it next to genrec-studio or set GENREC_ENGINE.</source>
        <translation>找不到 genrec 引擎；请将其安装在 genrec-studio 旁边或设置 GENREC_ENGINE。</translation>
    </message>
    <message>
        <source>Cannot create the engine log %1: %2</source>
        <translation>无法创建引擎日志 %1：%2</translation>
    </message>
    <message>
        <source>Could not start %1: %2</source>
        <translation>无法启动 %1：%2</translation>
    </message>
    <message>
        <source>error: %1</source>
        <translation>错误：%1</translation>
    </message>
    <message>
        <source>Could not start the engine (%1).</source>
        <translation>无法启动引擎（%1）。</translation>
    </message>
    <message>
        <source>Check that genrec is installed and executable.</source>
        <translation>请确认 genrec 已安装且可执行。</translation>
    </message>
    <message>
        <source>The engine process crashed.</source>
        <translation>引擎进程崩溃。</translation>
    </message>
    <message>
        <source>Resume the run from its last checkpoint (Runs → Resume).</source>
        <translation>可从最近的检查点继续运行（运行记录 → 继续）。</translation>
    </message>
    <message>
        <source>Stop requested; waiting for the engine to save and exit…</source>
        <translation>已请求停止；等待引擎保存并退出…</translation>
    </message>
    <message>
        <source>The engine did not exit; killing it.</source>
        <translation>引擎未退出，正在强制结束。</translation>
    </message>
</context>
<context>
    <name>genrec::ui::RunFormPanel</name>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Dataset</source>
        <translation>数据集</translation>
    </message>
    <message>
        <source>Choose dataset folder…</source>
        <translation>选择数据集文件夹…</translation>
    </message>
    <message>
        <source>Generate demo dataset</source>
        <translation>生成演示数据集</translation>
    </message>
    <message>
        <source>Problems</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Memory estimate</source>
        <translation>显存估算</translation>
    </message>
    <message>
        <source>Command</source>
        <translation>命令</translation>
    </message>
    <message>
        <source>Import YAML…</source>
        <translation>导入 YAML…</translation>
    </message>
    <message>
        <source>Export YAML…</source>
        <translation>导出 YAML…</translation>
    </message>
    <message>
        <source>Launch</source>
        <translation>启动</translation>
    </message>
    <message>
        <source>Dataset folder</source>
        <translation>数据集文件夹</translation>
    </message>
    <message>
        <source>Cannot read %1: %2</source>
        <translation>无法读取 %1：%2</translation>
    </message>
    <message>
        <source>Cannot write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Import run config</source>
        <translation>导入运行配置</translation>
    </message>
    <message>
        <source>YAML files (*.yaml *.yml);;All files (*)</source>
        <translation>YAML 文件 (*.yaml *.yml);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Import YAML</source>
        <translation>导入 YAML</translation>
    </message>
    <message>
        <source>Imported with these problems (the rest of the file was read):

%1</source>
        <translation>导入时发现以下问题（文件其余部分已读取）：

%1</translation>
    </message>
    <message>
        <source>Export run config</source>
        <translation>导出运行配置</translation>
    </message>
    <message>
        <source>YAML files (*.yaml *.yml)</source>
        <translation>YAML 文件 (*.yaml *.yml)</translation>
    </message>
    <message>
        <source>Export YAML</source>
        <translation>导出 YAML</translation>
    </message>
    <message>
        <source>not a valid value</source>
        <translation>不是有效值</translation>
    </message>
    <message>
        <source>enter %1</source>
        <translation>请输入%1</translation>
    </message>
    <message>
        <source>The genrec engine was not found.</source>
        <translation>找不到 genrec 引擎。</translation>
    </message>
    <message>
        <source>install genrec next to genrec-studio or set GENREC_ENGINE</source>
        <translation>请将 genrec 安装在 genrec-studio 旁边或设置 GENREC_ENGINE</translation>
    </message>
    <message>
        <source>No problems: ready to launch.</source>
        <translation>没有问题：可以启动。</translation>
    </message>
    <message>
        <source>Start the run as a separate genrec process</source>
        <translation>以独立的 genrec 进程启动运行</translation>
    </message>
    <message>
        <source>Fix the listed problems first</source>
        <translation>请先修正列出的问题</translation>
    </message>
    <message>
        <source>Preset: %1 (from scratch)</source>
        <translation>预设：%1（从头训练）</translation>
    </message>
    <message>
        <source>Open model folder…</source>
        <translation>打开模型文件夹…</translation>
    </message>
    <message>
        <source>Hugging Face model folder</source>
        <translation>Hugging Face 模型文件夹</translation>
    </message>
    <message>
        <source>Built-in %1 architecture, randomly initialised; the tokenizer is built from the dataset&apos;s titles and SID tokens.</source>
        <translation>内置 %1 架构，随机初始化；分词器由数据集标题和 SID 词元构建。</translation>
    </message>
    <message>
        <source>The embedded demo dataset (generated by the engine on first use).</source>
        <translation>内置演示数据集（首次使用时由引擎生成）。</translation>
    </message>
    <message>
        <source>The demo dataset is not generated yet: press “Generate demo dataset”.</source>
        <translation>演示数据集尚未生成：请点击“生成演示数据集”。</translation>
    </message>
    <message>
        <source>Folder not found: %1</source>
        <translation>找不到文件夹：%1</translation>
    </message>
    <message>
        <source>Reading %1…</source>
        <translation>正在读取 %1…</translation>
    </message>
    <message>
        <source>Demo dataset</source>
        <translation>演示数据集</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
</context>
<context>
    <name>genrec::ui::RunsPanel</name>
    <message>
        <source>Filter by name, model, dataset, tag…</source>
        <translation>按名称、模型、数据集、标签筛选…</translation>
    </message>
    <message>
        <source>All statuses</source>
        <translation>全部状态</translation>
    </message>
    <message>
        <source>Open in dashboard</source>
        <translation>在仪表盘中打开</translation>
    </message>
    <message>
        <source>Compare selected</source>
        <translation>对比所选</translation>
    </message>
    <message>
        <source>New run from this run</source>
        <translation>基于此运行新建</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Delete…</source>
        <translation>删除…</translation>
    </message>
    <message>
        <source>Rename…</source>
        <translation>重命名…</translation>
    </message>
    <message>
        <source>Add tag…</source>
        <translation>添加标签…</translation>
    </message>
    <message>
        <source>Edit note…</source>
        <translation>编辑备注…</translation>
    </message>
    <message>
        <source>Compare</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Select two or more runs (Ctrl+click).</source>
        <translation>请选择两个或更多运行（Ctrl+单击）。</translation>
    </message>
    <message>
        <source>Rename run</source>
        <translation>重命名运行</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Add tag</source>
        <translation>添加标签</translation>
    </message>
    <message>
        <source>Tag:</source>
        <translation>标签：</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Note for this run:</source>
        <translation>此运行的备注：</translation>
    </message>
    <message>
        <source>Delete runs</source>
        <translation>删除运行</translation>
    </message>
    <message>
        <source>Run #%1 is running; stop it first.</source>
        <translation>运行 #%1 正在进行；请先停止。</translation>
    </message>
    <message numerus="yes">
        <source>Delete %n run(s) with their metrics, events and evaluations? Checkpoint files on disk are kept.</source>
        <translation>
            <numerusform>删除 %n 个运行及其指标、事件和评测？磁盘上的检查点文件将保留。</numerusform>
        </translation>
    </message>
    <message>
        <source>run #%1</source>
        <translation>运行 #%1</translation>
    </message>
</context>
<context>
    <name>genrec::ui::RunsTableModel</name>
    <message>
        <source>Queued</source>
        <translation>排队中</translation>
    </message>
    <message>
        <source>Running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>Finished</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>Crashed</source>
        <translation>已崩溃</translation>
    </message>
    <message>
        <source>ID</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Type</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Dataset</source>
        <translation>数据集</translation>
    </message>
    <message>
        <source>Best NDCG@10</source>
        <translation>最佳 NDCG@10</translation>
    </message>
    <message>
        <source>HR@10</source>
        <translation>HR@10</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>Started</source>
        <translation>开始时间</translation>
    </message>
    <message>
        <source>Tags</source>
        <translation>标签</translation>
    </message>
    <message>
        <source>Parent</source>
        <translation>父运行</translation>
    </message>
</context>
<context>
    <name>genrec::ui::SchemaForm</name>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Run store</source>
        <translation>运行库</translation>
    </message>
    <message>
        <source>SQLite stores (*.db);;All files (*)</source>
        <translation>SQLite 运行库 (*.db);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Choose folder</source>
        <translation>选择文件夹</translation>
    </message>
    <message>
        <source>comma-separated, empty = []</source>
        <translation>逗号分隔，留空 = []</translation>
    </message>
</context>
<context>
    <name>genrec::ui::groups</name>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Fine-tuning</source>
        <translation>微调</translation>
    </message>
    <message>
        <source>Data</source>
        <translation>数据</translation>
    </message>
    <message>
        <source>Devices</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>SFT</source>
        <translation>监督微调 (SFT)</translation>
    </message>
    <message>
        <source>RL</source>
        <translation>强化学习</translation>
    </message>
    <message>
        <source>Eval</source>
        <translation>评测</translation>
    </message>
</context>
<context>
    <name>main</name>
    <message>
        <source>Training studio for generative recommendation</source>
        <translation>生成式推荐训练工作室</translation>
    </message>
    <message>
        <source>Open the New-run form with the demo config, ready to launch.</source>
        <translation>打开预载演示配置的新建运行表单，可直接启动。</translation>
    </message>
    <message>
        <source>Run store (SQLite) to open.</source>
        <translation>要打开的运行库（SQLite）。</translation>
    </message>
    <message>
        <source>Measure the Compare view on 10 runs x 100,000 points and live ingest into the dashboard, then exit.</source>
        <translation>在 10 个运行 × 100,000 个点上测量对比视图，并测量仪表盘的实时写入，然后退出。</translation>
    </message>
</context>
</TS>
