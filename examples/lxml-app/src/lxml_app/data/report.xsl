<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:c="urn:example:catalog"
    xmlns:str="http://exslt.org/strings"
    xmlns:math="http://exslt.org/math"
    xmlns:set="http://exslt.org/sets"
    extension-element-prefixes="str math set">
  <xsl:output method="text"/>
  <xsl:param name="currency" select="'USD'"/>
  <xsl:template match="/c:catalog">
    <xsl:text>books: </xsl:text><xsl:value-of select="count(c:book)"/>
    <xsl:text>&#10;most expensive: </xsl:text><xsl:value-of select="math:max(c:book/c:price)"/>
    <xsl:text> </xsl:text><xsl:value-of select="$currency"/>
    <xsl:text>&#10;distinct tags: </xsl:text>
    <xsl:for-each select="set:distinct(str:tokenize(c:book/c:tags))">
      <xsl:sort select="."/>
      <xsl:value-of select="."/><xsl:if test="position() != last()">, </xsl:if>
    </xsl:for-each>
    <xsl:for-each select="c:book">
      <xsl:sort select="c:price" data-type="number" order="descending"/>
      <xsl:text>&#10;- </xsl:text>
      <xsl:value-of select="str:padding(6 - string-length(@id), '.')"/><xsl:value-of select="@id"/>
      <xsl:text> </xsl:text><xsl:value-of select="str:align(c:title, '                    ', 'left')"/>
      <xsl:text> by </xsl:text><xsl:value-of select="str:concat(c:author)"/>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
