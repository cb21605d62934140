"""Fixed words of the report, per language. Study-specific text lives in each study module."""
LANGS = ("ja", "en")

TEXT = {
    "ja": {
        "title": "深層学習はなぜ実用になったか — 第27章の主張を測る",
        "subtitle": "データマイニング 第27章「分散表現の発展」の主張を、実際に学習させて確かめた結果",
        "produced": "作成", "profile": "プロファイル", "commit": "コミット", "dirty": "(未コミットの変更あり)",
        "contents": "目次", "claims": "章の主張", "setup": "設定", "figures": "図", "results": "結果",
        "verdicts": "判定", "questions": "考えてみよう", "provenance": "出所(再現のための情報)",
        "run": "MLflow ラン", "seeds": "シード", "device": "計算機", "wall": "実行時間", "packages": "パッケージ",
        "not_run": "まだ実行されていません。次のコマンドで実行できます:", "failed": "この研究の実行は失敗しました。",
        "notebook_at": "実行済みノートブック(MLflow のアーティファクト):", "rule": "判定規則",
        "supported": "支持", "not supported": "不支持", "inconclusive": "判断保留", "figure": "図", "table": "表",
        "intro": "各節では、章の主張(節番号つき)を言い換えて示し、実験の設定、図、区間つきの表、判定、"
                 "議論のための問いを順に載せる。数値はすべて MLflow に記録された実行から取り出したもので、"
                 "区間はシード間の 95% 信頼区間(t 分布)である。",
        "diverged": "† 一部のシードで損失が発散(NaN/inf)した。",
        "params": "パラメータ", "section": "節",
        "student": "学生用ワークシート", "instructor": "教員用", "editions": "版の一覧", "answer": "解答欄",
        "intro_student": "各節では、章の主張を言い換えて示し、実験の設定、図、区間つきの表、議論のための問いを載せる。"
                         "判定は載せていない。図と表から、主張が支持されるかを自分で考えてから議論しよう。"
                         "区間はシード間の 95% 信頼区間(t 分布)である。",
        "source": "出所", "tables": "表データ", "talking_points": "議論の進め方(教員用)",
        "chapter_questions": "章の討論課題", "edition_note": "学生用ワークシートには判定も想定解答も載せていない。"
                                                           "教員用には判定、議論の進め方、再現のための情報を載せている。",
    },
    "en": {
        "title": "Why deep learning became practical — measuring the claims of Chapter 27",
        "subtitle": "The claims of the data-mining course's Chapter 27 (\"The development of distributed "
                    "representations\"), checked by training real models",
        "produced": "Produced", "profile": "Profile", "commit": "Commit", "dirty": "(uncommitted changes)",
        "contents": "Contents", "claims": "What the chapter claims", "setup": "Setup", "figures": "Figures",
        "results": "Results", "verdicts": "Verdicts", "questions": "Questions for discussion",
        "provenance": "Provenance (to reproduce this)", "run": "MLflow run", "seeds": "Seeds", "device": "Device",
        "wall": "Wall time", "packages": "Packages",
        "not_run": "Not run yet. This command runs it:", "failed": "This study's run failed.",
        "notebook_at": "Executed notebook (MLflow artifact):", "rule": "Decision rule",
        "supported": "supported", "not supported": "not supported", "inconclusive": "inconclusive",
        "figure": "Figure", "table": "Table",
        "intro": "Each section paraphrases the chapter's claims (with section numbers), then gives the setup, "
                 "figures, a table with intervals, verdicts and questions for discussion. Every number comes "
                 "from a run recorded in MLflow; intervals are 95% t-intervals over seeds.",
        "diverged": "† the loss diverged (NaN/inf) for some seeds.",
        "params": "Parameters", "section": "Section",
        "student": "Student worksheet", "instructor": "Instructor edition", "editions": "All editions",
        "answer": "Your answer",
        "intro_student": "Each section paraphrases the chapter's claims, then gives the setup, figures, a table with "
                         "intervals and questions for discussion. There are no verdicts here: decide from the "
                         "figures and tables whether each claim holds before you discuss it. Intervals are 95% "
                         "t-intervals over seeds.",
        "source": "Source", "tables": "tables", "talking_points": "Talking points (instructor)",
        "chapter_questions": "The chapter's discussion questions",
        "edition_note": "The student worksheet has no verdicts and no expected answers. The instructor edition adds "
                        "verdicts, talking points and provenance.",
    },
}


# The chapter's two discussion questions (§27.3.3), paraphrased. Their evidence comes from the pretraining study.
CHAPTER_QUESTIONS = [
    {"id": "Q1", "study": "pretraining",
     "ja": "二つの課題で事前学習したモデルは「より汎用的」だと言われる。ここでいう汎用的とは、何が測れれば言えることだろうか。",
     "en": "A model pretrained on two tasks is said to be 'more general'. What would we have to measure to say so?"},
    {"id": "Q2", "study": "pretraining",
     "ja": "データをもっと増やし、もっと多様な課題で学習すれば、何もかも単純に良くなるのだろうか。",
     "en": "With a larger dataset and more, different tasks, does everything simply get better?"},
]
NO_EVIDENCE = {
    "ja": "この問いの根拠となる事前学習の研究はまだ実行されていない。ここまでの結果から考えられることを議論しよう。",
    "en": "The pretraining study that would give evidence for this question has not been run yet. Discuss what the "
          "results above already suggest.",
}
