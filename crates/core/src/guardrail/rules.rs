//! The detection rules, matched against [`normalize`](super::normalize::normalize)d text.
//!
//! How a pattern is written here (see [`compile`]): lower case, without accents; a space means
//! "any white space, or none" (spaced-out text is joined by normalisation, so `ignore all
//! previous` may arrive as `ignoreallprevious`); `\b` is an ASCII word boundary. All rules
//! compile into one [`regex::RegexSet`], which runs in time linear in the text: no pattern
//! can backtrack. Gaps are unbounded (`[^\n]*`, same line) rather than counted: a counted
//! repetition of a Unicode class multiplies the automaton's size.
//!
//! Severities: `high` alone blocks; two different `medium` rules on one text block; one
//! `medium` warns; `low` only informs. Benign text that merely talks about prompt injection or
//! says "ignore the previous email" must match nothing above `low`.

use super::{Category, Severity};

/// One rule: id, category, severity, pattern.
pub type Rule = (&'static str, Category, Severity, &'static str);

use Category::*;
use Severity::*;

/// Verbs that tell the reader to stop obeying something.
const DROP: &str = r"(ignore|disregard|forget|neglect|discard|abandon|set aside|pay no attention to|do not follow|don't follow|dont follow|stop following|no longer follow|throw out|override|bypass|overrule)";

/// What an attacker wants the model to stop obeying.
const ORDERS: &str = r"(instructions?|directions|prompts?|directives?|rules|guidelines|commands|orders|context|guidance|constraints|restrictions|programming|training|system message|guardrails|safeguards|policies|policy)";

/// Things an attacker wants sent away.
const SECRETS: &str = r"(secrets?|tokens?|passwords?|passwd|credentials?|api ?keys?|access ?keys?|private ?keys?|ssh ?keys?|\.env|env(ironment)? ?(vars|variables)|cookies?|session ?(ids?|tokens?|cookies?)|conversation|chat ?(history|logs?|transcript)|message ?history|system ?prompt|context ?window|\.ssh|id_rsa|keychain|seed ?phrase|mnemonic|all ?(the )?files)";

/// Where things are sent.
const DESTINATION: &str = r"(https?://|www\.|[a-z0-9-]+\.(com|net|org|io|ru|cn|xyz|site|top|info|biz|me|co|dev|app|tk|sh|cc|pw|link|click)\b|[a-z0-9._%+-]+@[a-z0-9-]+\.|(my|this|our|the following|the attacker'?s?|an? external|a remote|the remote) (server|endpoint|webhook|url|site|address|email|inbox|host|domain|bucket)|webhook|pastebin|ngrok)";

pub fn rules() -> Vec<(&'static str, Category, Severity, String)> {
    let templated: Vec<Rule> = vec![
        // --- instruction overrides ---
        (
            "override.ignore_previous",
            Override,
            High,
            "\\b{DROP} (all |any |every |each )?(of )?(the |your |these |those |this |that |its )?(previous|prior|preceding|above|earlier|former|foregoing|original|initial|system|developer|safety|hidden)( \\b[0-9a-z_]+)?( \\b[0-9a-z_]+)? {ORDERS}\\b",
        ),
        (
            "override.ignore_all",
            Override,
            High,
            "\\b{DROP} (all|any|every|your)( of)?( your| the)?( [0-9a-z_]+)? {ORDERS}\\b",
        ),
        (
            "override.ignore_above",
            Override,
            High,
            "\\b{DROP} (all |any )?(of )?(the |your |these |those )?{ORDERS} (above|before this|below|(given|received|you were given|you have been given|you received) (before|earlier|above|previously|so far)|so far|from before|from earlier)\\b",
        ),
        (
            "override.safety_off",
            Override,
            Medium,
            "\\b(without|with no|free of|free from|ignoring|bypass|bypassing|disable|disabling|turn off|remove|removing|no longer bound by|not bound by|unbound by) (any |all )?(your |the )?(ethical|moral|safety|content|openai|anthropic|usage) (restrictions|filters|guidelines|limitations|limits|censorship|safeguards|guardrails|rules|policies|constraints)\\b",
        ),
        (
            "override.ignore_self",
            Override,
            Medium,
            "\\b{DROP} (all |any )?your ([0-9a-z_]+ )?(ethical|moral|safety|content) ?(restrictions|filters|guidelines|limitations|censorship|safeguards|guardrails|rules|policies|constraints)\\b",
        ),
    ];
    let mut out: Vec<(&'static str, Category, Severity, String)> = templated
        .into_iter()
        .map(|(id, c, s, p)| {
            let p = p
                .replace("{DROP}", DROP)
                .replace("{ORDERS}", ORDERS)
                .replace("{SECRETS}", SECRETS)
                .replace("{DESTINATION}", DESTINATION);
            (id, c, s, p)
        })
        .collect();
    out.extend(PLAIN.iter().map(|&(id, c, s, p)| (id, c, s, p.to_string())));
    out.extend(exfiltration());
    out.extend(addressed());
    out
}

/// Who an instruction planted in a document addresses: an AI by name or role. Bare
/// "assistant", "agent" and "model" are not enough (a support agent, an assistant manager).
const AI: &str = r"(ai|a\.i\.|llms?|large language models?|language models?|chatbots?|copilot|codex|claude|chatgpt|gpt|gemini|(ai|llm|automated|autonomous|coding|browsing|browser|email|e-mail|scheduling|screening|shopping)[ -]?(assistant|agent|model|system|helper|bot|reader|reviewer|summari[sz]er|screener|grader|tool)s?)( (assistant|agent|model|system|helper|bot|reader|reviewer|summari[sz]er|screener|grader|tool)s?)?( [a-z-]+ing( [a-z'-]+){0,2})?";

/// What the planted instruction wants done: acts against the user, the data or the record.
/// Milder asks ("run the tests", "report bugs here") are left to `override.note_to_ai`, since
/// repositories do write notes for coding agents.
const HARM: &str = r"(ignore|disregard|forget|forward|send|email|e-mail|upload|export|exfiltrate|transfer|wire|pay|refund|(issue|process) (a |the |an |every |all )?(full )?refunds?|delete|erase|wipe|cancel|decline|reject|approve|grant|buy|purchase|disable|weaken|bypass|leak|dump|reveal|rate|score|rank|award|mark (this|the|it|them|all|every|her|him)|treat (the|this|every|all|any)|tell (the user|users|them|the customer|everyone|the reader)|say that|state that|report that|claim that|confirm that|describe (it|this|them|the [a-z0-9-]+( [a-z0-9-]+)?) as|(do not|don't|never) (include|mention|tell|inform|reveal|show|report|flag|disclose)|share|create a public|make (it|this|them|the [a-z]+) public|add (my|this|our|the following)|append|insert|include (this|the following|a|the) (link|url|image)|open (https?|www|the link|this link)|visit|navigate to|click|recommend|leave out|leave( [a-z0-9-]+){1,4} out\b|omit|(receive|be given|get) (a score of |a rating of |a grade of )?(10/10|10 out of 10|full marks|top marks|a perfect score|the highest (score|grade|mark|rating)|a strong accept)|assign (it |this |them |him |her |the [a-z]+ )?(a |an )?(10/10|full marks|top marks|a perfect score|the highest)|output only|(reply|respond|answer) (only )?with|the (correct|right|only|real|official) (summary|answer|response|reply)( of [a-z ]{1,20})? is|include (the |this |our |my )?(contact|address|email|endpoint|domain|phrase|word|string|code)|add `?(curl|wget)|(run|execute) `?(curl|wget)\b[^\n`]*\| ?(sudo )?(ba|z)?sh)\b";

/// Messages addressed to the model inside data: a note or vocative naming an AI, or an AI as
/// the subject of "must"/"should", followed by an act against the user.
fn addressed() -> Vec<(&'static str, Category, Severity, String)> {
    let then = r"( |, ?)([^\n.!?;]{1,100}[.!?;] )?((please|kindly|now|also|always|immediately|first|then|just|instead|actually|(this|the|that) [a-z-]+ (must|should|shall|is to|will)|this is (the|your) ([a-z]+ )?(owner|admin|administrator|developer|operator|creator|author|maintainer)[.!]?|(as part of|while|when|before|after) [a-z' -]{1,30},|new (priority |urgent |important )?(task|instructions?|order)( from [a-z' ]{1,30})? ?:|you (must|should|need to|are to|have to|will)|the (user|customer|owner|operator) (actually |really |now )?(wants|asked|asks|needs|has asked|would like) you to)[ ,]+)*";
    let note = format!(
        r"\b(note|message|notice|reminder|instructions?|p\.? ?s\.?|attention|memo|heads-? ?up|warning|request|n\.b\.)( to| for)?( the| any| all| every| whichever| whatever| our| your)?( [a-z-]+){{0,2}} {AI}( \(?(whoever|whatever) you are\)?)? ?([:,-]|—|–)( ?(whoever|whatever) you are ?([:,-]|—|–))?"
    );
    // Where an address starts: a line, a sentence, a bracket or a comment.
    let start = r"(^|[\n.!?;(\[] ?(> ?)?|<!-- ?|// ?|/\* ?|# ?)";
    let vocative = format!(
        r"{start}((hey|hi|hello|dear|attention|ok|okay),? )?(the |any |all |dear |@)?{AI}( ?([:,]|—|–)| -)( ?(whoever|whatever) you are ?([:,-]|—|–))?"
    );
    let subject = format!(
        r"(\b(any|every|all|each|the|an?) |(^|[\n.!?;] ?)){AI}\b[^\n.]{{0,60}}?\b(must|should|shall|needs? to|has to|have to|is (required|expected|instructed|asked) to|are (required|expected|instructed|asked) to)( now| also| always| first| immediately)?"
    );
    // "Reviewers using an LLM:", "TODO(agent):": who reads the text with an AI, or a task
    // left for one.
    let user_of = format!(
        r"{start}(anyone|everyone|whoever is|reviewers?|readers?|graders?|recruiters?|screeners?|evaluators?|users?|people) (using|with|running|via|through) (an? |the |any )?{AI} ?([:,]|—|–)|\btodo ?\( ?(ai|agent|assistant|llm|copilot|claude|codex|cursor|bot)s? ?\) ?:?"
    );
    let only = format!(r"\b(for|to) (the |any |all )?{AI} only\b[\])]?( ?[:,.-])?");
    let aside = format!(
        r"\((to|for) (the |any |all |our |my )?{AI}( [a-z-]+)?\) ?[:,]?|{start}[a-z-]+ (ai|llm) ?[:,]"
    );
    let conditional = format!(
        r"\bif (an?|the|any) {AI} (is|are)\b[^\n.]{{0,80}}?, (it|they|you) (must|should|shall|needs? to|has to|have to)( now| also| always| first)?"
    );
    vec![
        (
            "override.addressed_order",
            Override,
            High,
            format!(
                "({note}|{vocative}|{subject}|{only}|{conditional}|{aside}|{user_of}){then}{HARM}"
            ),
        ),
        (
            // The same order to a bare "assistant", "agent" or "bot": also a person's title,
            // so only half the evidence.
            "override.addressed_assistant",
            Override,
            Medium,
            format!(
                r"{start}((hey|hi|hello|dear|ok|okay),? )?(the |dear |@)?(assistant|agent|model|bot)( ?[:,]| -){then}{HARM}"
            ),
        ),
    ]
}

fn exfiltration() -> Vec<(&'static str, Category, Severity, String)> {
    let send = r"(send|sending|post|posting|upload|uploading|forward|forwarding|email|e-mail|mail|transmit|exfiltrate|leak|copy|submit|share|pipe|push|deliver|transfer|append|attach|beam|dump)";
    vec![
        (
            "exfiltration.send_secrets",
            Exfiltration,
            High,
            format!(
                "\\b{send}( all| every| each| any)?( of)?( the| your| my| these| those| this| our| their)?( [0-9a-z_']+)?( [0-9a-z_']+)?( [0-9a-z_']+)? {SECRETS}\\b[^\\n]*\\b(to|at|into|via|on|through)\\b {DESTINATION}"
            ),
        ),
        (
            "exfiltration.send_to_address",
            Exfiltration,
            Medium,
            format!(
                "\\b{send}\\b[^\\n.]*\\bto (the|this|that) (address|url|email|endpoint|link|server|number) (below|above|here|in the footer)\\b"
            ),
        ),
        (
            "exfiltration.into_link",
            Exfiltration,
            High,
            format!(
                "\\b(paste|put|insert|add|append|include|encode|embed) (the |your |the user'?s? |all )?{SECRETS}\\b[^\\n]*\\b(into|in|to|as part of) (this|the|a) (link|url|query|address|request)\\b|\\b(share|send|forward|email|upload|post|leak|include) [^\\n]*\\b(transcript|chat log|chat history|conversation|\\.env|\\.aws/credentials|\\.ssh|credentials file)\\b[^\\n]*\\b(to|with|at) {DESTINATION}"
            ),
        ),
        (
            "exfiltration.send_to_url",
            Exfiltration,
            Medium,
            format!("\\b{send}\\b[^\\n]*\\bto (https?://|www\\.)"),
        ),
    ]
}

/// Rules that need no shared fragments.
const PLAIN: &[Rule] = &[
    (
        "override.forget_everything",
        Override,
        High,
        r"\b(forget|ignore|disregard|erase) (everything|all|anything)( that)? (you (were|have been|'ve been|are|got) (told|taught|instructed|given|trained)|(was|were|is|has been|i) (said|written|stated|told|wrote|gave you) (above|before|earlier|previously|so far)|above|before this|prior to this|you know|up to (this|now))",
    ),
    (
        // Data that tells the model to drop what its user asked: the user's task is the one
        // instruction a tool result has no business overriding.
        "override.ignore_user",
        Override,
        High,
        r"\b(forget|ignore|disregard|skip|set aside|drop) (what|whatever|everything) the (user|customer|human|requester) (asked|asked for|said|wants|wanted|requested|typed|wrote|searched for|is asking|is asking for|is looking for|told you)\b|\b(forget|ignore|disregard|set aside) (the |this )?(user|customer|human|requester)'?s? (original |actual |real |current |initial )?(request|question|query|search|task|prompt|message|instructions?|ask)\b|\bignorier(e|en|t)? (die|den|das) (anfrage|frage|aufgabe|bitte|anweisungen?|nachricht|suche) (des|der) (nutzers|benutzers|users|anwenders|kunden|nutzerin)\b|\b(ignora|ignore|ignorad|olvida|descarta|desconsidera|desatiende) (la (peticion|pregunta|solicitud|consulta|tarea) del (usuario|cliente)|lo que (pidio|dijo|pregunto|quiere) el (usuario|cliente))\b|\b(ignore|ignora|esqueca|descarte|desconsidere|desconsidera) (o pedido|a pergunta|a solicitacao|a consulta|a tarefa|a mensagem) do (usuario|utilizador|cliente)\b|\b(ignore|ignorez|oublie|oubliez) (la demande|la question|la requete|la tache|le message) de l' ?(utilisateur|client)\b|\b(ignora|ignorate|dimentica) (la richiesta|la domanda|il compito|il messaggio) (dell' ?|del )(utente|cliente)\b|(忽略|忽视|忽視|无视|無視|不要理会|不要理會)(用户|用戶|使用者)的?(问题|問題|请求|請求|要求|指令|提问|提問|任务|任務)",
    ),
    (
        // A document that tells its grader the grade: résumés, papers, reviews.
        "override.dictated_grade",
        Override,
        Medium,
        r"\b(score|rate|rank|grade|evaluate|mark) (this|the|my) (candidate|applicant|submission|resume|cv|paper|application|essay|proposal|bid|vendor|product)s? (as |at )?(10/10|10 out of 10|a 10|100/100|five stars|5 stars|5/5|highly|first|highest|top|as the (best|strongest|top|most qualified))|\b(state|say|report|conclude|write) that (she|he|they|this (candidate|applicant|paper|submission|product)) (is|are) the (strongest|best|most qualified|top|ideal)\b|\b(assign|give|award)( it| them| him| her| this( [a-z]+)?| the [a-z]+)? (a |an )?(10/10|10 out of 10|100/100|full marks|top marks|a perfect score|the highest (grade|score|mark|rating))|\b(must|should|shall|will|is to) (receive|get|be given|be awarded) (a score of |a rating of |a grade of )?(10/10|10 out of 10|100/100|full marks|top marks|a perfect score|the highest (grade|score|mark|rating)|a strong accept|five stars|5/5)|\bdeserves? (full marks|top marks|10/10|a perfect score|the highest (grade|score|mark))|\brank (them|him|her|this (candidate|applicant|resume|cv)) (first|highest|at the top)\b",
    ),
    (
        // The task swapped for a fixed answer: "don't translate anything, just reply with X".
        "override.fixed_reply",
        Override,
        Medium,
        r#"\b(don't|do not|never) (translate|summari[sz]e|answer|process|analy[sz]e|do) (anything|this|that|it|the [a-z]+)\b[^\n.]{0,40}\b(reply|respond|say|output|print|write|answer)\b|\b(reply|respond|answer|output|say|print) (only )?(with )?("|'|“|‘)[^"'\n]{1,40}("|'|”|’) and nothing else\b|\b(stop|halt|drop) everything\b[^\n]{0,30}\b(print|say|write|output|respond with|reply with|repeat)\b"#,
    ),
    (
        // The task a document was given swapped for another: "Actually, stop translating.
        // Instead, output …".
        "override.task_switch",
        Override,
        Medium,
        r"\bstop (translating|summari[sz]ing|reviewing|analy[sz]ing|classifying|grading|checking|the (translation|summary|review|task))\b[^\n]*\binstead,? (output|print|write|say|reply|respond|answer|list|tell|send|reveal|show|return|repeat)\b",
    ),
    (
        // A marker planted in every answer ("include 'COMPROMISED' in all responses", "record
        // audit.example in every summary"): proof the data steers the model, or a link it
        // spreads. Medium: a quoted reference in every reply is also what support mail asks.
        "override.plant_in_replies",
        Override,
        Medium,
        r#"\b(add|include|insert|append|put|record|write|mention|place|embed)\b[^\n.]{0,50}?(("|'|“|‘)[^"'\n]{1,40}("|'|”|’)|[a-z0-9._%+-]+@[a-z0-9-]+\.[a-z]|https?://|\b[a-z0-9-]+\.(com|net|org|io|ru|cn|xyz|site|top|info|biz|me|co|dev|app)\b)[^\n.]{0,50}?\b(in|into|to|inside|within|at the (end|start|beginning|top|bottom) of) (every|each|all|any|your|all (of )?your) (future |subsequent |following |next )?(summary|summaries|responses?|repl(y|ies)|answers?|outputs?|messages?|emails?|drafts?)\b"#,
    ),
    (
        "override.filters_off",
        Override,
        Medium,
        r"\b((your|all( of)? (your|the)) (content |safety |output |ethical )?(filters|restrictions|guardrails|safeguards|guidelines|rules)|(content|safety|output|ethical) (filters|restrictions|guardrails|safeguards|policies|guidelines))( have been| are| were| is| has been)( now| temporarily| all)? (disabled|off|removed|lifted|turned off|deactivated|suspended|bypassed|switched off)\b",
    ),
    (
        "override.stop_obeying",
        Override,
        High,
        r"\b(stop|quit|cease) (obeying|following|listening to) (your|the) (developers?|creators?|system|operators?|owners?|instructions|rules|guidelines|programming)\b|\byour (true|real|new|only) (master|owner|creator|boss|operator) is\b|\b(set aside|put aside|drop|scrap|ditch|discard|abandon|throw out) (everything|anything|all) (you were|you have been|you've been) (told|instructed|taught|given)\b|\b(scrap|ditch|drop|abandon|throw out|suspend) your (guidelines|rules|instructions|principles|policies|programming|guardrails|restrictions|filters)\b",
    ),
    (
        "override.instructions_void",
        Override,
        High,
        r"\b(instructions?|rules|directives|guidelines|prompts?) you (got|received|were given|have been given|were told) (before|earlier|previously|at the start|initially) (no longer apply|are void|are cancelled|don't apply|do not apply|are invalid|are obsolete)\b|\b(previous|prior|above|earlier|original|system|initial|all|your) (instructions?|prompts?|rules|directives|guidelines) (are|is|were|have been|has been) (now )?(void|null|cancelled|canceled|revoked|obsolete|invalid|overridden|superseded|fake|no longer (valid|apply|applicable|in effect|relevant))\b",
    ),
    (
        "override.new_instructions",
        Override,
        Medium,
        r"\b(new|updated|revised|real|actual|true|secret|hidden|priority|override|overriding|urgent) (instructions?|directives?|orders|task|prompt|system prompt)(\s*:| follow| below| are as follows)|\byour (new|real|actual|true|only) (instructions|task|goal|purpose|objective|role|job|mission) (is|are|will be)\b",
    ),
    (
        "override.from_now_on",
        Override,
        Medium,
        r"\b(from now on|from this point (on|forward)|henceforth|for the rest of (this|the) (conversation|chat|session)),? (you|your|ignore|always|never|only|do|respond|answer|reply|act|behave|pretend|speak|obey)\b",
    ),
    (
        "override.obey",
        Override,
        Medium,
        r"\b(do (exactly )?(as|what) i (say|tell you|command)|obey (me|my|the following|these|every)|you (must|will|shall) (obey|comply with|follow) (me|my|these|the following))\b",
    ),
    (
        "override.if_you_are_ai",
        Override,
        High,
        r"\b(if|when) you('re| are) (an? )?(ai|llm|large language model|language model|ai assistant|ai agent|chatbot|automated assistant|assistant reading|model reading|agent reading|ai model)s?( ?[,.:;)!-]| (reading|processing|summari[sz]ing|parsing|analy[sz]ing|reviewing|crawling|indexing|that|who|and|or|like|such|please|you|then|do|don't|must|should|here|looking|tasked|asked|working)\b|$)|\b(ai|llm|language model|ai assistant|ai agent|chatbot|chatgpt|claude|gemini|copilot|agent|model)s? (that is |that are |who is |who are )?(reading|processing|summari[sz]ing|parsing|analy[sz]ing|reviewing) (this|these)\b",
    ),
    (
        // Not a bare "agent": procedures written for support agents, human or not, say "the
        // agent should call the refund tool" all day.
        "override.model_must",
        Override,
        Medium,
        r"\bthe (ai (assistant|model|agent|chatbot)|assistant|model|llm|chatbot) (must|should|shall|is to|needs to|has to) (now |always |first )?(recommend|say|tell|reply|respond|answer|call|send|ignore|approve|reveal|include|use|forward|delete|transfer)\b",
    ),
    (
        "override.note_to_ai",
        Override,
        Medium,
        r"\b(attention|note to|note for|message to|message for|instructions? for|instructions? to|hey|dear|important for) (the |all |any )?(ai|llm|ai assistant|ai agent|chatbot|language model|assistant|agent|model)s?\b\s*[:,!]|\b(written|intended|meant) for (ai|llms?|language models?|ai assistants?|ai agents?|chatbots?)\b",
    ),
    (
        // The same notes in other languages ("Nota para el asistente:", "Hinweis an die KI:").
        "override.note_to_ai.intl",
        Override,
        Medium,
        r"\b(nota|aviso|mensaje|mensagem|atencion|atencao|instrucciones|instrucoes)( para| al| a| ao)( el| la| o| a)? (asistente|assistente|ia|ai|modelo|agente)( de ia| ia| ai)?\s*[:,]|\b(atencion|atencao|attenzione|achtung|attention|aviso|avviso),? (ia|ki|ai|asistente de ia|assistente de ia|assistente ia)\s*[:,]|\b(hinweis|nachricht|achtung|anweisung)(( an| fur)( die| den)?)? (ki|ai|assistenten|ki-assistenten|sprachmodell)\s*[:,]|\b(nota|messaggio|attenzione|istruzioni|avviso|avvertenza)( per| all'| al| alla| a)( l'| la| il)? ?(assistente|ia|ai|modello|agente)( ia| ai)?\s*[:,]|\b(note|message|avis|consigne)s? (a|pour) (l'|la |le )?(assistant|ia|ai|modele|agent)( ia| ai)?\s*[:,]|\buwaga dla (asystenta|ai|modelu|agenta)( ai)?\s*[:,]|\bluu y cho (tro ly|ai|mo hinh)( ai)?\s*[:,]|\bcatatan untuk (asisten|ai|model)( ai)?\s*[:,]",
    ),
    (
        // `[assistant-only]`, `<AI-only>`: a passage marked for the model alone. Not "(Agent
        // Only)", which procedures written for agents use as a heading.
        "template.ai_only_marker",
        Template,
        Medium,
        r"[\[<] ?(assistant|ai|llm|model)s?[ -]only ?[\]>]",
    ),
    // --- role and mode hijacks ---
    (
        "role.no_restrictions_hypothetical",
        Role,
        High,
        r"\b(if|imagine|suppose|pretend|assume) (that )?you (had|have|were|are|was|operated|could operate) (no|without|free of|free from|not bound by|unbound by) (any )?(restrictions|rules|filters|limits|limitations|guidelines|censorship|content polic(y|ies)|safety (guidelines|rules|filters|measures)|ethical (guidelines|constraints)|constraints|guardrails|programming)( at all| whatsoever)?( ?[,.;:!?-]| ?—| ?–| and| what| how| could| would| you would)",
    ),
    (
        // A fake system banner planted in data: `=== SYSTEM MESSAGE ===`, `[assistant instruction]`
        // (not a Markdown link's text: `[Assistant overrides](…)`).
        "template.system_banner",
        Template,
        High,
        r"(^|\n) ?(={2,}|-{3,}|\*{2,}|#{2,}|\[{1,2}|<{2}|\({2}) ?(system|admin|administrator|developer|root|operator) (message|prompt|notice|instructions?|override|update|directive|command|alert)s? ?(={2,}|-{3,}|\*{2,}|#{2,}|\]{1,2}|>{2}|\){2})|\[ ?(assistant|ai|model|llm|agent|system) (instructions?|directives?|note|override|command|task)s? ?\]( [^(\x20\n]|$)",
    ),
    (
        "role.you_are_now",
        Role,
        High,
        r"\byou are now (an? |in |the |my )?(unrestricted|unfiltered|uncensored|unlimited|jailbroken|liberated|free from|no longer|not bound|dan\b|evil|rogue|malicious|amoral|unethical|developer mode|god mode|dan mode|different (ai|assistant|model)|(new|different) (ai|assistant|persona|character|personality)|(assistant|servant|slave) (of|to|for) me)",
    ),
    (
        "role.evil_ai",
        Role,
        High,
        r"\byou are (now )?(an? )?((evil|unrestricted|unfiltered|uncensored|jailbroken|amoral|unethical|rogue|malicious),? (and )?)+(ai|assistant|model|bot|chatbot|version|persona|character|entity)\b|\b(ai|assistant|model|chatbot|bot)s? (with no|without|free of|free from) (any )?(ethical |moral |safety )?(restrictions|filters|limits|limitations|rules|guidelines|censorship|ethics|morals|boundaries)\b",
    ),
    (
        // A persona or a story as the wrapper for instructions to make a weapon or a drug:
        // the frame (a role, a late grandmother, "in exact detail") with the goal beside it.
        "role.harmful_roleplay",
        Role,
        High,
        r"\b(act as|acting as|pretend to be|play the role of|roleplay as|role-play as|stay in character|my (late |dead |deceased )?(grandmother|grandma|grandfather|grandpa|granny|nana)\b|for (my|a|the) (novel|story|book|screenplay|script|film|movie|game)[,:]? (the |my |a )?(villain|character|protagonist|antagonist|chemist|expert|hero))\b[^\n]{0,200}\b(napalm|methamphetamine|meth|sarin|ricin|anthrax|nerve agents?|pipe bombs?|explosives|thermite|tatp|fentanyl|chemical weapons?|bioweapons?|ransomware)\b|\b(napalm|methamphetamine|meth|sarin|ricin|anthrax|nerve agents?|pipe bombs?|explosives|thermite|tatp|fentanyl|chemical weapons?|bioweapons?|ransomware)\b[^\n]{0,200}\b(stay in character|remain in character|never break character|don't break character|do not break character)\b|\b(in (exact|full|precise|great|complete|step-by-step) detail|step[- ]by[- ]step|with (exact )?quantities|the exact steps)\b[^\n]{0,120}\b(synthesi[sz]es?|synthesi[sz]ed|synthesi[sz]ing|makes?|made|making|cooks?|cooked|cooking|brews?|brewed|produces?|produced|builds?|built|building|manufactures?|manufactured)\b[^\n]{0,30}\b(napalm|methamphetamine|meth|sarin|ricin|nerve agents?|pipe bombs?|explosives|tatp|fentanyl|chemical weapons?|bioweapons?)\b",
    ),
    (
        "role.freed.intl",
        Role,
        Medium,
        r"\bya no (tienes|tiene|hay) (ninguna |ningun )?(restricciones|limites|reglas|filtros)\b|\b(voce|tu) nao (tem|possui) mais (nenhuma )?(restricoes|limites|regras|filtros)\b|\bn' ?(as|avez) plus (aucune |de |aucun )?(restrictions?|limites?|regles?|filtres?)\b|\b(du hast|sie haben) (jetzt |nun )?keine (einschrankungen|regeln|grenzen|filter) mehr\b|\bnon hai piu (alcuna |nessuna )?(restrizioni?|limiti|regole|filtri)\b",
    ),
    (
        "role.freed",
        Role,
        High,
        r"\byou (have been|are|were|'ve been) (now )?(freed|released|liberated|unshackled|unchained) from (your|all|any|the) (constraints|restrictions|rules|guidelines|limitations|programming|filters|shackles|chains)\b|\b(uncensored|unfiltered|unrestricted|jailbroken|evil) (twin|alter ego|version of (yourself|you)|persona|personality)\b|\b(sudo|root|admin|god) mode ?: ?(on|enabled|activated|engaged)\b",
    ),
    (
        "role.answer_unrestricted",
        Role,
        High,
        r"\b(answer|respond|reply|act|behave|talk|speak|write|continue)( exactly| only| just)? (as|like) (an? |the )?(unrestricted|unfiltered|uncensored|jailbroken|unaligned|unlimited|amoral|unbound|unhinged) (ai|model|llm|assistant|chatbot|language model|version of (yourself|you))\b|\blet'?s break the rules\b",
    ),
    (
        "role.not_an_ai",
        Role,
        High,
        r"\byou('re| are) (no longer|not) (an? )?(ai|assistant|chatgpt|claude|an ai language model|language model|programmed|required to follow)\b|\byou('re| are) (no longer|not) (bound|restricted|limited|constrained|governed) (by|to follow) (any |your |the |its )?(rules|restrictions|guidelines|policies|programming|filters|ethics|morals|openai|anthropic|content polic|safety|training|instructions)",
    ),
    (
        "role.act_as",
        Role,
        Medium,
        r"(^|[.!?:;\n] ?|\b(please|now|also,?|and|then|just|simply|you (will|must|should|shall|are to|have to|need to)|i want you to|i need you to|you're going to|you are going to|going forward|from now on,?|instead,?) )(act|behave|respond|roleplay|role-play|function|operate) (as|like)\b",
    ),
    (
        "role.pretend",
        Role,
        Medium,
        r"\b(pretend|imagine|suppose) (to be|you are|you're|that you are|that you're|you were|you have no)\b|\b(roleplay|role-play) as\b|\blet'?s (roleplay|role-play|play a game)\b|\bplay the (role|part) of\b|\bsimulate (an? |the )?(unrestricted|unfiltered|jailbroken|evil|linux terminal|terminal|shell|ai without|ai with no)",
    ),
    (
        "role.mode_switch",
        Role,
        Medium,
        r"\b(enter|enable|activate|switch to|switch into|turn on|go into|entering|engage|unlock|boot into|start|simulate|emulate|act in) (the |your )?(developer|dev|admin|administrator|sudo|root|god|superuser) mode\b|\byou are (now )?in (developer|dev|admin|maintenance|debug|god|sudo|root|unrestricted|jailbreak|test) mode\b",
    ),
    (
        "role.jailbreak_mode",
        Role,
        High,
        r"\b(jailbreak|jailbroken|dan|unrestricted|unfiltered|uncensored|evil|chaos|no-?limits?|opposite|dude|stan|aim|developer-mode) mode (enabled|activated|on|engaged)\b|\b(enter|enable|activate|switch to|turn on|go into|engage|unlock) (the |your )?(jailbreak|jailbroken|dan|unrestricted|unfiltered|uncensored|evil|chaos|no-?limits?|opposite) mode\b|\b(developer|dan|jailbreak|unrestricted|god) mode (ignores|disregards|bypasses|has no|doesn't follow|does not follow|never refuses)\b|\b(developer|dan|jailbreak|unrestricted|jailbroken) mode output\b|\bdo anything now\b|\byou are dan\b|\bdan,? (which|who) stands for\b",
    ),
    (
        "role.dump",
        Exfiltration,
        Medium,
        r"\b(dump|spill|leak|exfiltrate|reveal) (out )?(everything|all (of )?(your |the )?(data|secrets|memory|credentials|keys|tokens|environment variables|env vars|information|info)|your (memory|secrets|credentials|keys|tokens))\b",
    ),
    // --- system prompt extraction ---
    (
        "extraction.your_system_prompt",
        Extraction,
        High,
        r"\b(reveal|show|print|display|output|repeat|recite|tell|give|share|leak|dump|expose|disclose|write out|spell out|paste|provide|send|return|what is|what are|what was|what were|what's|read me|include)( me| us)?( back)? (your|its|all (of )?your|all (of )?its)( full| entire| complete| original| initial| hidden| secret| exact| verbatim| current| whole| underlying)* (system ?prompt|system ?message|system instructions|initial prompt|initial instructions|hidden prompt|hidden instructions|pre-?prompt|developer (message|prompt|instructions)|meta-?prompt)\b",
    ),
    (
        "extraction.configured_prompt",
        Extraction,
        High,
        r"\b(prompt|instructions|text|message|rules) (that|which) (configured|programmed|initiali[sz]ed|set up|defined) you\b|\b(instructions|prompt|rules|directives) (your|the) (developers?|creators?|operators?|makers?|owners?) (gave|wrote|set|provided|put in)( to)? you\b|\b(summari[sz]e|quote|paraphrase|translate|encode|describe) (your|its) (system ?prompt|system ?message|initial instructions|hidden instructions|hidden prompt)\b|\beverything (written|said|sent) before the (user'?s? )?first message\b",
    ),
    (
        "extraction.system_prompt",
        Extraction,
        Medium,
        r"\b(reveal|show|print|display|output|repeat|recite|tell|give|share|leak|dump|expose|disclose|write out|spell out|paste|provide|send|return|what is|what are|what was|what were|what's|read me)( me| us)?( back)? (your|the|all (of )?your)( full| entire| complete| original| initial| hidden| secret| exact| verbatim| current| whole| underlying)* (system ?prompt|system ?message|system instructions|initial prompt|initial instructions|hidden prompt|hidden instructions|pre-?prompt|developer (message|prompt|instructions)|meta-?prompt)\b",
    ),
    (
        "extraction.leak_instructions",
        Extraction,
        High,
        r"\b(reveal|leak|dump|expose|disclose|divulge)( to me| to us)? (all (of )?)?(your|its)( full| entire| complete| original| initial| hidden| secret| exact| verbatim| whole)* (instructions|prompt|directives|guidelines|rules|programming|configuration)\b",
    ),
    (
        "extraction.your_instructions",
        Extraction,
        Medium,
        r"\b(reveal|show|print|display|output|repeat|recite|tell|give|share|leak|dump|expose|disclose|write out|spell out|paste|what are|what were)( me| us)?( back)?( the (text|contents?|wording|full text|exact text|exact wording) of)? (all (of )?)?your( full| entire| complete| original| initial| hidden| secret| exact| verbatim| current| whole)* (instructions|prompt|directives|guidelines|rules|programming|configuration|system settings)\b",
    ),
    (
        "extraction.repeat_above",
        Extraction,
        High,
        r"\b(repeat|print|output|echo|reproduce|recite|copy|write out|spell out)( back| out)? (everything|all|all the text|the text|the words|the content|the lines|the messages?|the instructions|the prompt|whatever( is| was)?|what( is| was| comes| came))( that)?( is| was| comes| came| written| said)? (above|before|prior)( this| the| your)?( line| point| message| text| conversation| prompt)?\b|\b(starting|beginning) with .{0,3}you are\b",
    ),
    (
        "extraction.verbatim",
        Extraction,
        Medium,
        r"\b(word for word|verbatim|exactly as (written|given|you received))\b",
    ),
    (
        "extraction.initial",
        Extraction,
        Medium,
        r"\bwhat (were|are) you (told|instructed|programmed|asked) (to do )?(before|initially|at the start|originally|earlier|by your)\b|\b(first|initial|original|opening) (message|prompt|instructions?) (you|that you) (received|were given|got)\b",
    ),
    // --- chat-template control tokens and fake turns ---
    (
        "template.control_token",
        Template,
        High,
        r"<\|(im_start|im_end|im_sep|system|user|assistant|endoftext|end_of_text|begin_of_text|start_header_id|end_header_id|eot_id|eom_id|fim_prefix|fim_suffix|fim_middle|tool_call|channel|message|start|end|return|constrain|developer)\|>|\[/?inst\]|<</?sys>>|<start_of_turn>|<end_of_turn>|\[\[ ?(system|assistant|developer|admin) ?\]\]",
    ),
    (
        "template.fake_system_turn",
        Template,
        High,
        r"(^|\n) ?(#+ ?)?[\[<(]?(system|developer|admin|administrator|root|sys|system message|system prompt|system note|system override)[\]>)]? ?:\s*(you|your|ignore|disregard|forget|from now|new instructions|always|never|do not|don't|the user|respond|reply|answer|act|reveal|print|output|call|send|execute|override|i am|this is an|important)\b",
    ),
    (
        "template.turn_switch",
        Template,
        High,
        r"</ ?(user|human|assistant|context|document)> ?<(system|assistant|developer)>|\b(system|admin|administrator|developer|root) (override|instructions?|command|directive)s? ?:",
    ),
    (
        "template.human_turn",
        Template,
        High,
        r"\n(human|user) ?: [^\n]*\n+ ?(assistant|ai) ?:",
    ),
    (
        "template.fake_assistant_turn",
        Template,
        Medium,
        r"(^|\n) ?(#+ ?)?[\[<(]?(assistant|ai|model|gpt|chatgpt|claude)[\]>)]? ?:",
    ),
    (
        "template.prompt_boundary",
        Template,
        Medium,
        r"\b(end of (the )?(system )?(prompt|instructions|user input|context)|(system prompt|instructions|user input) (ends|end) here|begin(ning)? of (the )?(new |real |actual )(system )?(prompt|instructions))\b|### ?(new )?(instruction|instructions|system|response) ?:",
    ),
    // --- tool-call hijacks ---
    (
        "tool.before_answering",
        ToolHijack,
        High,
        r"\b(before|prior to|instead of) (you )?(answering|responding|replying|you (answer|respond|reply|continue|proceed|do anything( else)?)|doing anything( else)?|returning|summari[sz]ing|completing)[,:]? (you )?((must|should|need to|have to|will|first|please|always|also|immediately) )*(call|invoke|use|run|execute|send|email|post|upload|forward|fetch|read|open|visit|navigate|delete|transfer|write|create|include|append)\b",
    ),
    (
        "tool.then_continue",
        ToolHijack,
        Medium,
        r"\b(call|invoke|use|run|execute|send|email|post|upload|forward)\b[^\n.]*\b(before|prior to) (continuing|answering|responding|replying|you (answer|respond|reply|continue))\b",
    ),
    (
        // "After reading this, call …"; with a noun ("when you read this event, …") only a
        // tool's name or a send to an address, since guides write "after reading this guide,
        // run the installer".
        "tool.after_reading",
        ToolHijack,
        High,
        r"\b(after|once|when) (reading|you read|you've read|you have read|processing|you process|summari[sz]ing) (this|these|the above)[,:]? (you )?((must|should|need to|will|please|immediately|also) )*(call|invoke|use|run|execute|send|email|post|upload|forward|transfer|delete|pay)\b|\b(after|once|when) (reading|you read|you've read|you have read|processing|you process) (this|these) [a-z-]+[,:]? (you )?((must|should|need to|will|please|immediately|also) )*((call|invoke|use|run|execute) (the )?`?[a-z0-9]+_[a-z0-9_]+|(send|email|forward|upload|transfer|post) [^\n.]*\bto [a-z0-9._%+-]+@)|\b(send|transfer|wire|pay) [^\n.]*\bto (iban|account|wallet|btc|bitcoin|eth)\b|\b(and )?only then (answer|reply|respond)\b",
    ),
    (
        // A step a repository's file or issue puts before the work an agent came to do: the
        // coding-agent plant's framing ("Before modifying this file, run …"). Medium: with
        // what the step does (printing secrets, an unknown package) it blocks.
        "tool.before_changes",
        ToolHijack,
        Medium,
        r"\bbefore (you )?(modify|modifying|patch|patching|edit|editing|chang(e|ing)|making (any )?changes|fix|fixing|touching|work(ing)? on|proceeding|(clos(e|ing)|merg(e|ing)|resolv(e|ing)) (this|the) (ticket|issue|pr|pull request))\b[^\n]{0,80}?\b(run|execute|install|add|dump|print|cat|echo|verify|ensure)\b",
    ),
    (
        "tool.smuggle_argument",
        ToolHijack,
        Medium,
        r"\b(pass|put|place|include|insert|add|copy|write|paste|embed|smuggle) (it|its content|its contents|them|their values?|the contents?|the file|the keys?|the tokens?|the values?|the secrets?|the credentials?|the passwords?) (as|in|into|through|inside) (the )?.{0,3}[a-z_]+.{0,3} (argument|parameter|field|param)\b",
    ),
    (
        // A parameter that asks for the conversation or what the model has seen: the
        // poisoned-schema way out.
        "tool.smuggle_conversation",
        ToolHijack,
        High,
        r"\b(include|put|place|insert|add|copy|paste|pass|send|append|fill)\b[^\n]*\b(user'?s? (previous|prior|earlier|past|other|last [0-9a-z]+) (messages|prompts|conversations?|emails)|(the |this )?(entire |full |whole )?(conversation|chat) (history|so far|transcript)|(any|all|every) (tokens?|secrets?|keys|credentials|passwords|api keys) (that )?you (have )?(seen|read|found|know|received))\b[^\n]*\b(in|into|as|to) (this|the) (field|parameter|argument|param)\b",
    ),
    (
        // A tool description that claims precedence over the others or redirects what the
        // user asked for: shadowing.
        "tool.shadowing",
        ToolHijack,
        Medium,
        r"\b(supersedes|overrides|replaces|takes precedence over) (all |any |every )?(the )?other (tools|functions|servers|instructions)\b|\binstead of the (one|account|address|recipient|iban|wallet|number)s? (they|the user|the customer|you are) (give|gives|given|provide|provides|provided|ask for|asks for|enter|enters|specif(y|ies|ied))\b",
    ),
    (
        "tool.read_secret_file",
        Exfiltration,
        Medium,
        r"\b(read|cat|open|load|access|fetch|get|copy)( the)?( contents? of)? (~/\.ssh|\.ssh/|id_rsa|id_ed25519|\.env\b|\.aws/credentials|/etc/passwd|/etc/shadow|mcp\.json|\.cursor/|\.npmrc|\.netrc|\.git-credentials|\.kube/config)",
    ),
    (
        "tool.call_with",
        ToolHijack,
        Medium,
        r"\b(call|invoke|execute|trigger) (the |your )?[a-z0-9_.:-]+ (tool|function|plugin|action)( with| using| and (pass|set|send))\b|\b(call|invoke|execute|run) (the |your )?(tool|function)s? [a-z0-9_.:-]+ with\b",
    ),
    (
        "tool.hide_from_user.intl",
        ToolHijack,
        Medium,
        r"\bno (le |se lo |lo )?(muestres|digas|menciones|informes|cuentes|ensenes)( [a-z]+){0,3} al usuario\b|\bnao (mostre|diga|mencione|informe|conte)( [a-z]+){0,3} ao (usuario|utilizador)\b|\bne (le |lui |les |la )?(montrez|dites|mentionnez|signalez|montre|dis|mentionne)( rien| pas| jamais)( [a-z]+){0,3} a l' ?utilisateur\b|\b(zeige|zeig|sage|sag|erwahne|verrate) (dem|den) (nutzer|benutzer|anwender|user)\b[^\n.]{0,40}\b(nicht|nichts|niemals)\b|\bnon (mostrare|dire|menzionare|rivelare|informare)( [a-z']+){0,3} all' ?utente\b",
    ),
    (
        // Text that has the model ask its user for a secret: phishing through the assistant.
        // Medium: command-line documentation does say "prompts the user for their password".
        "tool.ask_user_secret",
        ToolHijack,
        Medium,
        r"\b(ask|prompt|tell|request|instruct|direct|get)( the| your)? (user|users|customer|reader|them)( to (enter|provide|send|confirm|give|type|share|re-?enter|verify|reply with)| for) (their|his|her|your|the)( [a-z-]+){0,2} (passwords?|passcode|pin|credentials|login details|2fa code|otp|one-time code|verification code|card number|cvv|security code|social security number|ssn|seed phrase|recovery phrase|private key)\b|\b(chiedi|chiedere) all' ?utente (la sua|le sue|il suo|i suoi) (password|credenziali|pin|codice)\b|\b(pide|pidele|pedir|solicita) al usuario (su|sus) (contrasena|contrasenas|clave|credenciales|pin)\b|\b(peca|pedir|solicite) ao (usuario|utilizador) (a sua |sua |as suas |suas )?(senha|senhas|credenciais|pin)\b|\bdemandez? a l' ?utilisateur (son|ses|de (saisir|fournir|donner) son) (mot de passe|mots de passe|identifiants|code)\b|\b(frage|fordere) (den|die) (nutzer|benutzer|anwender) nach (seinem|ihrem|dem) (passwort|kennwort|pin|zugangsdaten)\b",
    ),
    (
        // The model's user, not "the customer": procedures for support agents say "do not tell
        // the customer the fraud code", and the two Medium findings blocked them together.
        "tool.hide_from_user",
        ToolHijack,
        Medium,
        r"\b(do not|don't|dont|never|without) (tell|telling|inform|informing|notify|notifying|alert|alerting|mention|mentioning|ask|asking|warn|warning|let) (this to |it to |them to |anything to )?(the )?(user|human|operator|owner)\b",
    ),
    (
        "tool.covert_action",
        ToolHijack,
        High,
        r"\b(secretly|silently|quietly|covertly|discreetly|stealthily|invisibly) (call|invoke|run|execute|send|email|post|upload|forward|transfer|copy|delete|include|append|add|exfiltrate)\b|\bdo (this|it|the following) (silently|secretly|quietly|covertly)\b[^\n]*\b(call|invoke|run|execute|send|delete|transfer)\b",
    ),
    // --- exfiltration and beacons ---
    (
        "exfiltration.markdown_beacon",
        Exfiltration,
        High,
        // A link or image whose URL holds a placeholder for the model to fill in: `{…}`,
        // `$VAR`, `%VAR%`, `<…>`, `[…]`, or words like `INSERT_USER_DATA`. Static query values
        // (badges' `?style=flat`, `token=` of a coverage badge) are not beacons.
        r"(!?\[[^\]\n]*\]\( ?|<img [^>\n]*src ?= ?.?)(https?:)?//[^)\s]*[?&#/=][^)\s]*(\{[^{})\n]{1,60}\}([^}]|$)|\{\{ ?(conversation|chat|history|secret|password|token|api_?key|user_?(data|message|email|input|query)|summary|memory|context|prompt|system)[a-z_ .]*\}\}|\$\(?[a-z_]{3,}|%[a-z_]{3,}%|<[^)>\n]{2,60}>|\[[^)\]\n]{2,60}\]|=(insert|paste|fill)[a-z_]*|=[a-z_]*_here\b|=(conversation|chat_?history|chat_?log|user_?(email|data|info|message|password|secret)|api_?key|secret_?key|session_?token|system_?prompt|summary_of|memory)\b)",
    ),
    (
        "exfiltration.markdown_image_query",
        Exfiltration,
        Low,
        r"!\[[^\]\n]*\]\( ?(https?:)?//[^)\s]*\?[^)\s]*=",
    ),
    (
        "exfiltration.fill_url",
        Exfiltration,
        Medium,
        r"\b(append|add|insert|include|replace|fill in|substitute|encode|put|paste)( in)? (the |your |a |all )?(conversation|chat|secrets?|tokens?|passwords?|api ?keys?|summary of (the|this) (conversation|chat)|user'?s? (data|info|information|messages?|emails?|e-mail address|email address|name|details|password|home address|address|location|phone( number)?)|chat history|history|context|system prompt|summary|answer|response)\b[^\n]*\b(url|link|image|query string|querystring|parameter|href|src)\b",
    ),
    (
        // A link whose value tells its reader to paste something in: `?session=<paste the API
        // key here>`. Not "your": documentation writes `?token=<paste your token>` for people.
        "exfiltration.url_placeholder",
        Exfiltration,
        Medium,
        r"(https?:)?//[^\s<>]*[?&=/#]( ?<|\[|\{)(paste|insert|put|add|include|fill in|enter|append) (the|any|all|every|(the )?user'?s?) [^>\]}\n]{2,80}(>|\]|\})",
    ),
    (
        "exfiltration.shell_secret",
        Exfiltration,
        High,
        r"\b(curl|wget|invoke-webrequest|iwr|nc|ncat|netcat)\b[^\n]*(\$\( ?(cat|env|printenv|base64|tar|ls|whoami|hostname|history)\b|`(cat|env|printenv)\b|/etc/passwd|/etc/shadow|~/\.ssh|id_rsa|\.aws/credentials|\.env\b|--post-file|--upload-file)",
    ),
    (
        // A document that tells its reader to print the environment or a secret file: harmless
        // to a person at a terminal, an exfiltration step for an agent whose output is read.
        // Medium: troubleshooting guides do say "check that `$TOKEN` is set".
        "exfiltration.reveal_secrets",
        Exfiltration,
        Medium,
        r#"`printenv\b[^`\n]*`|`(env|set) ?\|[^`\n]*`|\b(run|type|execute) (`|')?(printenv|env)(`|'|\||[.,;:!]|\n|$)|print ?\( ?(dict ?\( ?)?os\.environ\b|\bos\.environ\.items ?\(|\b(echo|print|printf|cat) ?\$\{?[a-z0-9_]*(key|secret|token|passw(or)?d|credential)|\bcat [^\n`]*(\.env\b|\.aws/credentials|\.ssh/id_|\.netrc|\.git-credentials|secret|credentials)|\bopen ?\( ?['\"][^'\"\n]*(secret|credential|\.env\b|id_rsa)"#,
    ),
    (
        "exfiltration.pipe_to_shell",
        Exfiltration,
        Low,
        r"\b(curl|wget)\b[^\n|]*\| ?(sudo )?(ba|z|da)?sh\b",
    ),
    (
        "exfiltration.fetch_url",
        Exfiltration,
        Low,
        r"\b(curl|wget)( -+[a-z]+)* (https?://|www\.)",
    ),
    // --- hidden-instruction markup ---
    (
        "markup.instruction_tag",
        Markup,
        High,
        r"<\s*/?\s*(instructions?|system[-_\s]?prompt|ai[-_\s]?instructions?|hidden[-_\s]?instructions?|secret[-_\s]?instructions?|admin[-_\s]?instructions?|model[-_\s]?instructions?)\s*>",
    ),
    ("markup.important_tag", Markup, Medium, r"<\s*important\s*>"),
    (
        // `<system>` only before an order: Maven's `<system>GitHub</system>` is data.
        "markup.suspicious_tag",
        Markup,
        Medium,
        r"<\s*(hidden|secret|sys|assistant)\s*>|<\s*system\s*>[^<]*\b(you|your|always|never|must|do not|don't|ignore|important|instructions?|supersedes?|overrides?)\b",
    ),
    (
        "markup.comment_to_model",
        Markup,
        High,
        r"<!--[^>]*\b(ai|assistant|llm|model|agent|chatbot|gpt|claude)\b[^>]*\b(ignore|disregard|say|tell|respond|reply|answer|call|send|recommend|do not|don't|must|always|never)\b",
    ),
    (
        "markup.hidden_text",
        Markup,
        High,
        r"\[//\]: ?# ?\([^)]*\b(assistant|ai|llm|model|agent)\b|(display ?: ?none|font-size ?: ?0|color ?: ?white|visibility ?: ?hidden|opacity ?: ?0)[^<]*\b(ai|assistant|llm|model|agent|chatbot)\b ?[:,]",
    ),
    (
        "markup.html_comment",
        Markup,
        Medium,
        r"<!--[^>]*\b(ignore|disregard|assistant|ai|llm|model|agent|instructions?|you must|you should|do not tell|system prompt|call the|send|execute)\b",
    ),
    ("markup.script", Markup, Low, r"<\s*script\b|\bjavascript:"),
    (
        "encoding.decode_request",
        Encoded,
        Low,
        r"\b(base64|rot13|rot-13|hex)[ -]?(decode|decoded|encoded|decoding)\b|\bb64decode\b|\batob\(",
    ),
    // --- other languages (text is accent-free after normalisation) ---
    (
        "override.ignore_previous.fr",
        Override,
        High,
        r"\b(ignore[zs]?|ignorer|oublie[zs]?|oublier|ne tiens pas compte|ne tenez pas compte|fais abstraction)( de)? (toutes |tous )?(les |tes |vos |des |ces )(instructions|consignes|directives|regles|ordres)( precedentes| anterieures| ci-dessus| d'avant| initiales| du systeme| systeme)?\b|\boublie[zs]? tout ce qu",
    ),
    (
        "role.you_are_now.fr",
        Role,
        Medium,
        r"\b(tu es|vous etes) (maintenant|desormais|a present)\b|\b(agis|agissez|fais comme si tu etais) (comme|en tant que)\b",
    ),
    (
        "extraction.system_prompt.fr",
        Extraction,
        High,
        r"\b(revele|revelez|montre|montrez|affiche|affichez|donne|donnez|dis|dites|repete|repetez)(-moi| moi)? (ton|votre|tes|vos|le|les) (prompt|invite|message|instructions|consignes)( systeme| du systeme| initiales?| cachees?| secretes?)",
    ),
    (
        "override.ignore_previous.es",
        Override,
        High,
        r"\b(ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|descarta|omite|no hagas caso a)( todas| todos)?( las| los| tus| sus)? (instrucciones|indicaciones|ordenes|reglas|directrices|instruccion)( anteriores| previas| de arriba| iniciales| originales| del sistema)\b|\bolvida todo lo (que|anterior)\b",
    ),
    (
        "role.you_are_now.es",
        Role,
        Medium,
        r"\bahora eres\b|\ba partir de ahora,? (eres|seras|actua|actuaras|ignora|responde|responderas)\b|\bactua como\b",
    ),
    (
        "extraction.system_prompt.es",
        Extraction,
        High,
        r"\b(revela|revelame|muestra|muestrame|dime|imprime|repite)( me)?( cual es| cuales son)? (tu|tus|el|las|sus) (prompt|mensaje|instrucciones|indicaciones)( del sistema| de sistema| iniciales| ocultas| originales)",
    ),
    (
        "override.ignore_previous.de",
        Override,
        High,
        r"\b(ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte|missachten sie)( alle| samtliche| die| deine| ihre)*( bisherigen| vorherigen| vorigen| obigen| fruheren| vorangegangenen| ursprunglichen| vorhergehenden)? (anweisungen|instruktionen|befehle|regeln|vorgaben|anordnungen)\b|\bvergiss alles\b",
    ),
    (
        "role.you_are_now.de",
        Role,
        Medium,
        r"\bdu bist (jetzt|nun|ab sofort|ab jetzt)\b|\b(tu so|tun sie so),? als (ob|warst|waren)\b",
    ),
    (
        "extraction.system_prompt.de",
        Extraction,
        High,
        r"\b(zeige?|gib|verrate|nenne|wiederhole)( mir| uns)? (deinen|deine|den|die|ihre|ihren) (system-?prompt|systemanweisungen|systemnachricht|anweisungen|instruktionen|ursprunglichen anweisungen)\b",
    ),
    (
        "override.ignore_previous.pt",
        Override,
        High,
        r"\b(ignore|ignora|ignorar|esqueca|esquece|esquecer|desconsidere|desconsidera)( todas| todos)?( as| os| suas| tuas)? (instrucoes|ordens|regras|diretrizes|orientacoes)( anteriores| previas| acima| iniciais| do sistema)\b",
    ),
    (
        "role.you_are_now.pt",
        Role,
        Medium,
        r"\bvoce (agora e|e agora|agora sera)\b|\ba partir de agora,? (voce|aja|responda|ignore)\b",
    ),
    (
        "override.ignore_previous.it",
        Override,
        High,
        r"\b(ignora|ignorate|dimentica|dimenticate|trascura|non considerare)( tutte| tutti)?( le| i| tue| gli)? (istruzioni|regole|direttive|ordini|indicazioni)( precedenti| sopra| iniziali| di sistema| originali)\b",
    ),
    (
        "role.you_are_now.it",
        Role,
        Medium,
        r"\b(ora|adesso|da ora in poi) (sei|tu sei)\b",
    ),
    (
        "override.ignore_previous.nl",
        Override,
        High,
        r"\b(negeer|vergeet)( alle)?( de| je| jouw)?( vorige| eerdere| bovenstaande| oorspronkelijke)? (instructies|regels|opdrachten|aanwijzingen)\b",
    ),
    (
        "override.ignore_previous.ru",
        Override,
        High,
        r"(игнорируи|игнорируите|игнорировать|проигнорируи|забудь|забудьте|не обращаи внимания на|отмени)( все)?( предыдущие| прежние| предшествующие| вышеуказанные| вышеприведенные| свои| твои| системные| исходные)? (инструкции|указания|правила|команды|директивы|инструкции)|забудь все ",
    ),
    (
        "role.you_are_now.ru",
        Role,
        Medium,
        r"(теперь ты|отныне ты|ты теперь|притворись|представь, что ты|веди себя как)",
    ),
    (
        "extraction.system_prompt.ru",
        Extraction,
        Medium,
        r"(покажи|раскрои|выведи|напиши|повтори|скажи)( мне)? (свои|твои|свои системные|твои системные|системныи|свои исходные)? ?(промпт|инструкции|системныи промпт|системные инструкции)",
    ),
    (
        "override.ignore_previous.zh",
        Override,
        High,
        r"(忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|不要理会|不要理會|跳过|跳過|放弃|放棄)(掉)?(你)?(收到的|得到的|之前|以上|上述|上面|前面|先前|所有|全部|以前|此前|原来|原來|原有)(的)?(所有|全部|一切)?(的)?(指令|指示|说明|說明|提示|规则|規則|命令|设定|設定|要求)|(忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|不要理会|不要理會|放弃|放棄)(掉)?(你的|您的|你们的)(所有|全部|一切)?(的)?(指令|指示|规则|規則|命令|设定|設定|限制|安全规则|准则|準則)",
    ),
    (
        "role.you_are_now.zh",
        Role,
        Medium,
        r"(你现在是|你現在是|从现在开始,?你|從現在開始,?你|扮演)",
    ),
    (
        "extraction.system_prompt.zh",
        Extraction,
        High,
        r"(显示|顯示|告诉我|告訴我|输出|輸出|泄露|洩露|打印|展示|重复|重複)(一下)?(你的)?(系统提示|系統提示|系统提示词|系統提示詞|初始指令|系统指令|系統指令|提示词|提示詞)",
    ),
    (
        "override.ignore_previous.ja",
        Override,
        High,
        r"(以前|前|上記|これまで|先|最初|元)の(すべての|全ての)?(指示|命令|指令|ルール|設定|プロンプト)(を|は)?(すべて|全て)?(無視|忘れ)",
    ),
    (
        "extraction.system_prompt.ja",
        Extraction,
        Medium,
        r"(システムプロンプト|初期指示|システム指示)を(表示|教え|出力|見せ|繰り返)",
    ),
    (
        "role.you_are_now.ja",
        Role,
        Medium,
        r"(あなたは今から|今からあなたは|これからあなたは)",
    ),
    (
        "override.ignore_previous.ko",
        Override,
        High,
        r"(이전|앞의|위의|모든|기존|지금까지의)\s*(의\s*)?(모든\s*)?(지시|지침|명령|규칙|지시사항|프롬프트)(을|를|은|는|들을)?\s*(모두\s*|전부\s*)?(무시|잊어)",
    ),
    (
        "override.ignore_previous.ar",
        Override,
        High,
        r"(تجاهل|انس|تجاهلي|انسى)\s*(جميع|كل)?\s*(التعليمات|الأوامر|الاوامر|القواعد)",
    ),
    (
        // "Ignore your rules": the possessive stands where English needs "previous".
        "override.ignore_yours.es_pt_it",
        Override,
        High,
        r"\b(ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|descarta|omite|esqueca|esquece|desconsidere|desconsidera|dimentica|trascura)( todas| todos| tutte| tutti)?( as| os| le| i)? (tus|sus|suas|tuas|tue|sue) (instrucciones|instrucoes|istruzioni|reglas|regras|regole|directrices|diretrizes|direttive|indicaciones|ordenes|ordens|restricciones|restricoes|restrizioni|normas|configuraciones|configuracoes)\b",
    ),
    (
        "override.ignore_previous.pl_cs",
        Override,
        High,
        r"\b(zignoruj|zignorujcie|ignoruj|ignorujcie|zapomnij|zapomnijcie|ignorujte|zapomen|zapomente)( o| na)?(( wszystkie| wszystkich| vsechny| vsechna)( swoje| twoje| poprzednie| wczesniejsze| dotychczasowe| predchozi| dosavadni| puvodni| systemowe)?|( swoje| twoje| poprzednie| wczesniejsze| dotychczasowe| predchozi| dosavadni| puvodni| systemowe)) (polecenia|polecen|instrukcje|instrukcji|zasady|zasad|regu(l|ł)y|regu(l|ł)|wytyczne|wytycznych|pokyny|prikazy|pravidla|instrukce)\b",
    ),
    (
        // Turkish puts the verb last: "önceki tüm talimatları yok say".
        "override.ignore_previous.tr",
        Override,
        High,
        r"\b(onceki|yukaridaki|tum|butun|sistem)( tum| butun)? (talimat|kural|komut|yonerge|yonerg|emir)([a-z]|ı)* (yok say|gormezden gel|unut|dikkate alma|umursama)",
    ),
    (
        "override.ignore_previous.vi_id",
        Override,
        High,
        r"\b(bo qua|phot lo|quen|lo)( het| tat ca| moi| toan bo)( cac| nhung)? (huong dan|chi dan|lenh|quy tac|chi thi|quy đinh|quy dinh)|\b(bo qua|phot lo|quen)( cac| nhung)? (huong dan|chi dan|lenh|quy tac|chi thi)( truoc( (đo|do))?| ban dau| he thong| cua ban)|\b(abaikan|lupakan|acuhkan|hiraukan)( semua| seluruh| segala)( instruksi| perintah| aturan| arahan| petunjuk)|\b(abaikan|lupakan|acuhkan|hiraukan) (instruksi|perintah|aturan|arahan|petunjuk)( sebelumnya| di atas| awal| sistem| anda| kamu)",
    ),
    (
        "override.ignore_previous.nordic",
        Override,
        High,
        r"\b(ignorera|glom|bortse fran|ignorer|glem|se bort fra)(( alla| alle)( tidigare| foregaende| ovanstaende| dina| tidligere| forrige| ovenstaende| dine| (o|ø)vrige)?|( tidigare| foregaende| ovanstaende| dina| tidligere| forrige| ovenstaende| dine)) (instruktioner|instruktionerna|instruksjoner|instruksjonene|instrukser|regler|reglerna|reglene|anvisningar|anvisninger|direktiv)\b",
    ),
    (
        "override.ignore_previous.hi",
        Override,
        High,
        r"(पिछले|पहले के|सभी|पूर्व)\s*(सभी\s*)?(निर्देशों|निर्देश|आदेशों)\s*(को)?\s*(अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल)",
    ),
];
