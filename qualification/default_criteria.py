"""The criteria Glengarry starts with: a typical B2B SaaS definition of a good lead."""

DEFAULT_CRITERIA_YAML = r"""
# Glengarry qualification criteria: who is worth a sales rep's time, and why.
#
# A contact gets two numbers from 0 to 100:
#   fit        - who they are: the points of every fit rule that matches, added up.
#   engagement - what they did lately: points per activity, fading with time (half-life).
# Status, most decisive first:
#   disqualified      a disqualifier matched (competitor, student, unsubscribed, ...)
#   (a rep's pin)     a status written into the contact property `glengarry_override`
#   customer_active / customer_at_risk   customers, by health (see customer_health)
#   unknown           nothing known yet: no fit data and no activity
#   sales_ready       fit >= thresholds.fit and engagement >= thresholds.engagement
#   poor_fit          engaged, but not a good fit
#   nurture           not engaged right now
#
# Property names are HubSpot's contact property names. `email_domain` is the part of `email`
# after the "@". Text comparisons ignore case. Conditions: equals, in, regex, range (numbers;
# a bucket like "100-500" counts as its lower bound), exists, free_mail, and not / all / any.

name: B2B SaaS default

fit:
  # Seniority: people who can buy.
  - label: C-level title
    signal: title_c_level
    points: 30
    condition:
      property: jobtitle
      regex: '\b(ceo|cto|cfo|coo|cmo|cio|cro|chief|founder|co-?founder|owner)\b'
  - label: VP-level title
    signal: title_vp
    points: 25
    condition: {property: jobtitle, regex: '\b(vp|svp|evp|vice[ -]president)\b'}
  - label: director or head-of title
    signal: title_director
    points: 20
    condition: {property: jobtitle, regex: '\b(director|head of)\b'}
  - label: manager title
    signal: title_manager
    points: 8
    condition: {property: jobtitle, regex: '\bmanager\b'}

  # Ideal customer profile: HubSpot's `industry` enumeration values.
  - label: ideal-customer industry
    signal: icp_industry
    points: 20
    condition:
      property: industry
      in: [COMPUTER_SOFTWARE, INFORMATION_TECHNOLOGY_AND_SERVICES, INTERNET, FINANCIAL_SERVICES,
           COMPUTER_NETWORK_SECURITY, MARKETING_AND_ADVERTISING]

  # Company size: HubSpot's `numemployees` buckets (1-5, 5-25, 25-50, 50-100, 100-500,
  # 500-1000, 1000+).
  - label: mid-market company (50-999 employees)
    signal: size_mid_market
    points: 15
    condition: {property: numemployees, range: {min: 50, max: 999}}
  - label: enterprise company (1000+ employees)
    signal: size_enterprise
    points: 20
    condition: {property: numemployees, range: {min: 1000}}
  - label: very small company (under 25 employees)
    signal: size_very_small
    points: -10
    condition: {property: numemployees, range: {max: 24}}

  - label: target country
    signal: target_country
    points: 10
    condition:
      property: country
      in: [United States, US, USA, Canada, CA, United Kingdom, UK, GB, Germany, DE, France, FR,
           Netherlands, NL, Australia, AU, Ireland, IE, Sweden, SE]

  # Email: a company address says more than a private one.
  - label: business email domain
    signal: business_email
    points: 10
    condition: {property: email, free_mail: false}
  - label: free-mail address
    signal: free_mail
    points: -15
    condition: {property: email, free_mail: true}
  - label: no company name
    signal: no_company
    points: -5
    condition: {property: company, exists: false}

# Engagement: each activity adds points that halve every `half_life_days`; `cap` limits what
# one kind of activity can add in total. The first matching rule replaces the default points.
engagement:
  email_open:
    label: email opens
    points: 1
    half_life_days: 14
    cap: 5
  email_click:
    label: email click
    points: 4
    half_life_days: 14
    cap: 12
  email_reply:
    label: email reply
    points: 15
    half_life_days: 14
    cap: 30
  page_view:
    label: website visit
    points: 2
    half_life_days: 10
    cap: 30
    rules:
      - label: pricing page visit
        signal: pricing_page_visit
        points: 12
        condition: {property: url, regex: '/pricing'}
      - label: docs visit
        signal: docs_visit
        points: 4
        condition: {property: url, regex: '/docs'}
  form_submission:
    label: form submission
    points: 10
    half_life_days: 30
    cap: 45
    rules:
      - label: demo request
        signal: demo_request
        points: 35
        condition: {property: form, regex: 'demo|contact[-_ ]sales'}
      - label: newsletter signup
        signal: newsletter_signup
        points: 3
        condition: {property: form, regex: 'newsletter'}
  meeting:
    label: meeting
    points: 30
    half_life_days: 21
    cap: 45
  call:
    label: call
    points: 12
    half_life_days: 14
    cap: 30
  chat:
    label: chat conversation
    points: 8
    half_life_days: 10
    cap: 20
  product_usage:
    label: product usage
    points: 5
    half_life_days: 7
    cap: 30

# A contact whose last activity is older than this loses points from the score.
inactivity:
  after_days: 45
  points: -10
  label: no activity since

disqualifiers:
  # Replace these with your competitors' domains.
  - label: competitor email domain
    signal: competitor
    condition: {property: email_domain, in: [rivalscore.io, leadlynx.com, qualifyhq.com]}
  - label: student or intern
    signal: student
    condition: {property: jobtitle, regex: '\b(student|intern|internship)\b'}
  # hs_email_optout: HubSpot sets it when the contact unsubscribed from all email.
  - label: unsubscribed from email
    signal: unsubscribed
    condition: {property: hs_email_optout, equals: true}
  # hs_email_hard_bounce_reason_enum: set by HubSpot on a hard bounce;
  # hs_email_bounce: number of marketing emails that bounced.
  - label: email bounced
    signal: bounced
    condition:
      any:
        - {property: hs_email_hard_bounce_reason_enum, exists: true}
        - {property: hs_email_bounce, range: {min: 1}}
  # glengarry_do_not_contact: a checkbox property Glengarry installs for reps and privacy
  # requests ("true" = never route to sales).
  - label: marked do-not-contact
    signal: do_not_contact
    condition: {property: glengarry_do_not_contact, equals: true}

# Who counts as a customer (health then tells active from at-risk).
customer: {property: lifecyclestage, equals: customer}

# Health of a customer, 0 to 100: `base` plus points from what its people do and say, each
# fading with its own half-life (either sign: a detractor lowers health, a promoter raises it);
# below `at_risk_below` the customer is at risk. `lapse` takes points once a kind of activity
# the customer did has stopped for `after_days`. Labels may show the activity's properties in
# braces ("NPS {score} on" reads "-30 NPS 3 on 2026-11-02").
customer_health:
  base: 55
  at_risk_below: 40
  activities:
    product_usage:
      label: product usage
      points: 2
      half_life_days: 14
      cap: 20
      lapse: {after_days: 21, points: -30, label: no product usage since}
    meeting:
      label: meeting
      points: 5
      half_life_days: 30
      cap: 10
    # survey answers: `score` 0-10 (NPS)
    survey_response:
      label: survey answer
      half_life_days: 90
      rules:
        - label: NPS {score} on
          signal: nps_detractor
          points: -30
          condition: {property: score, range: {max: 6}}
        - label: NPS {score} on
          signal: nps_passive
          points: -8
          condition: {property: score, range: {max: 8}}
        - label: NPS {score} on
          signal: nps_promoter
          points: 15
          condition: {property: score, range: {min: 9}}
    # support tickets: `priority` LOW, MEDIUM, HIGH or URGENT; `status` OPEN or CLOSED
    ticket:
      label: support ticket
      points: -6
      half_life_days: 30
      rules:
        - label: urgent ticket open since
          signal: urgent_ticket_open
          points: -25
          condition:
            all:
              - {property: priority, equals: URGENT}
              - {property: status, equals: OPEN}

thresholds:
  fit: 50                  # fit needed for sales_ready
  engagement: 40           # engagement needed for sales_ready (and poor_fit)
  hysteresis: 5            # once in, a contact stays until 5 points below the threshold
  score_write_delta: 5     # rewrite the CRM score only when it moved this much

# score = fit_weight * fit + engagement_weight * engagement (+ the inactivity penalty)
score:
  fit_weight: 0.5
  engagement_weight: 0.5

reasons_max: 5
"""
